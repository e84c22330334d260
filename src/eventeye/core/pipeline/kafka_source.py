"""A Kafka inbox: the processor reads a module's topics as a member of a consumer group.

```python
source = KafkaInboxSource(bus, ["intellisite.detections"], module="vehicles", parse=parse_detection)
pipeline.add_source("vehicles", source)   # a processor loop of its own in worker processes
```

Each record becomes an envelope. Its id is the UUID in the record's ``id``
header, or one derived from topic, partition, offset and timestamp, so that a
record delivered again is the same event and is stored once. Offsets are
committed only after the processor's transaction committed: at-least-once
delivery plus idempotent writes. A record that cannot become an envelope is
recorded in ``errors`` in that same transaction (and published to the
dead-letter topic, when one is set); it never stops the consumer.

Polling happens outside the processor's transaction (in ``wait``), so that
no database transaction stays open while the broker has nothing to give.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.bus import Batch as RecordBatch
from eventeye.core.bus import Bus, BusError, BusUnavailable, Consumer, Message, Publisher, Record
from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.core.pipeline.envelope import Envelope, Rejection
from eventeye.core.pipeline.inbox import Batch

logger = logging.getLogger("eventeye.inbox.kafka")

RECORD_NAMESPACE = uuid.UUID("8a4f2c61-0b7e-5d3a-9c1f-6e2d4b8a7f30")
ID_HEADER = "id"
RAW_LIMIT = 8192
MAX_RECORD_BYTES = 1024 * 1024

REJECTED = Counter("eventeye_kafka_records_rejected_total", "Records that could not become events", ["topic"])


class InvalidRecord(ValueError):
    """A record that cannot become an event; ``field`` names the part at fault."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


RecordParser = Callable[[bytes], tuple[str, bytes]]
"""Turns a record's value into ``(event type, envelope body)``; raises ``InvalidRecord`` saying why it cannot."""


def fixed_type(type: str) -> RecordParser:
    """A parser keeping the value as the body, every record of event type ``type``."""
    return lambda value: (type, value)


def record_event_id(record: Record) -> uuid.UUID:
    """The UUID of the record's ``id`` header, else a UUIDv5 of where the record sits in the log."""
    for name, value in record.headers:
        if name == ID_HEADER:
            try:
                return uuid.UUID(value.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                break
    return uuid.uuid5(RECORD_NAMESPACE, f"{record.topic}/{record.partition}/{record.offset}/{record.timestamp}")


@dataclass(frozen=True, slots=True)
class KafkaBatch(Batch):
    """An inbox batch that remembers its records (all of them, rejected ones too) to commit them."""

    records: RecordBatch = field(default_factory=RecordBatch)
    rejected: tuple[tuple[Record, Rejection], ...] = ()


class KafkaInboxSource:
    """An ``InboxSource`` over a group consumer of ``topics``; an async context manager."""

    def __init__(
        self,
        bus: Bus,
        topics: Sequence[str],
        *,
        module: str,
        parse: RecordParser,
        group_id: str | None = None,
        partitions: int = 1,
        dead_letter_topic: str | None = None,
        poll_wait: float = 0.5,
        max_records: int = 2000,
    ) -> None:
        self.bus = bus
        self.topics = list(topics)
        self.module = module
        self.parse = parse
        self.group_id = group_id
        self.partitions = partitions
        self.dead_letter_topic = dead_letter_topic
        self.poll_wait = poll_wait
        self.max_records = max_records
        self._consumer: Consumer | None = None
        self._dead_letters: Publisher | None = None
        self._buffer: list[Record] = []
        self._next: dict[tuple[str, int], int] = {}
        self._assigned: frozenset[tuple[str, int]] = frozenset()

    # Lifecycle

    async def start(self) -> None:
        """Create missing topics, join the group, and connect the dead-letter publisher."""
        await self.bus.ensure_topics(self.topics, partitions=self.partitions)
        consumer = self.bus.consumer(self.topics, group_id=self.group_id)
        await consumer.start()
        self._consumer = consumer
        if self.dead_letter_topic:
            publisher = self.bus.publisher()
            await publisher.start()
            self._dead_letters = publisher

    async def close(self) -> None:
        """Leave the group; records fetched but not committed go to the other members."""
        consumer, self._consumer = self._consumer, None
        publisher, self._dead_letters = self._dead_letters, None
        self._buffer.clear()
        self._next.clear()
        self._assigned = frozenset()
        for client in (consumer, publisher):
            if client is not None:
                try:
                    await client.close()
                except BusError as exc:
                    logger.warning("closing a Kafka client failed: %s", exc)

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def assignment(self) -> frozenset[tuple[str, int]]:
        """The partitions this member reads now."""
        return self._consumer.assignment() if self._consumer is not None else frozenset()

    # InboxSource

    async def fetch(self, conn: AsyncConnection, limit: int) -> Batch | None:
        if len(self._buffer) < limit:
            await self._poll(limit - len(self._buffer), 0)
        records = self._buffer[:limit]
        if not records:
            return None
        envelopes: list[Envelope] = []
        rejected: list[tuple[Record, Rejection]] = []
        for record in records:
            decoded = self._decode(record)
            if isinstance(decoded, Envelope):
                envelopes.append(decoded)
            else:
                rejected.append((record, decoded))
        if rejected:
            await pipeline_repository.insert_errors(
                conn, rejections=[rejection for _, rejection in rejected], at=datetime.now(UTC)
            )
        return KafkaBatch(envelopes=envelopes, records=RecordBatch(tuple(records)), rejected=tuple(rejected))

    async def settle(self, conn: AsyncConnection, batch: Batch) -> None:
        """Nothing to do in the transaction: the offsets are committed after it."""

    async def committed(self, batch: Batch) -> None:
        if not isinstance(batch, KafkaBatch):
            raise TypeError("a Kafka source settles only the batches it fetched")
        if batch.rejected:
            await self._publish_dead_letters(batch.rejected)
        del self._buffer[: len(batch.records)]
        consumer = self._consumer
        if consumer is None:
            return
        try:
            if not await consumer.commit(batch.records):
                logger.info("some partitions moved during the batch; their records will be delivered again")
        except BusError as exc:
            logger.warning("committing offsets failed (%s); the records will be delivered again", exc)

    async def wait(self, max_wait: float) -> None:
        """Poll until records come (the broker is asked for at most ``poll_wait`` seconds at a time)."""
        if not self._buffer:
            await self._poll(self.max_records, max(max_wait, self.poll_wait))

    # Internals

    async def _poll(self, max_records: int, wait: float) -> None:
        consumer = self._consumer
        if consumer is None:
            raise BusError("the Kafka source is not started")
        try:
            batch = await consumer.poll(max_records=max_records, wait=wait)
        except BusUnavailable as exc:
            logger.warning("the broker is unavailable (%s)", exc)
            return
        self._note_assignment(consumer.assignment())
        for record in batch:
            place = (record.topic, record.partition)
            if record.offset >= self._next.get(place, -1):
                self._buffer.append(record)
                self._next[place] = record.offset + 1

    def _note_assignment(self, assigned: frozenset[tuple[str, int]]) -> None:
        """Log a change of partitions, and drop what was fetched from the ones that moved away."""
        if assigned != self._assigned:
            self._assigned = assigned
            held = ", ".join(f"{topic}[{partition}]" for topic, partition in sorted(assigned)) or "none"
            logger.info("%s reads partitions: %s", self.module, held)
        if all(place in assigned for place in self._next):
            return
        self._buffer = [record for record in self._buffer if (record.topic, record.partition) in assigned]
        self._next = {place: offset for place, offset in self._next.items() if place in assigned}

    def _decode(self, record: Record) -> Envelope | Rejection:
        event_id = record_event_id(record)
        received_at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        source = f"kafka:{record.topic}"[:150]
        try:
            if not record.value:
                raise InvalidRecord("the record has no value", field="value")
            if len(record.value) > MAX_RECORD_BYTES:
                raise InvalidRecord(f"the record is over {MAX_RECORD_BYTES} bytes", field="value")
            type, body = self.parse(record.value)
        except InvalidRecord as exc:
            REJECTED.labels(record.topic).inc()
            return Rejection(
                kind="malformed",
                module=self.module,
                reason=exc.reason,
                field=exc.field,
                source=source,
                event_id=event_id,
                raw=record.value[:RAW_LIMIT].decode("utf-8", "replace"),
                received_at=received_at,
            )
        return Envelope(id=event_id, module=self.module, type=type, source=source, received_at=received_at, body=body)

    async def _publish_dead_letters(self, rejected: Sequence[tuple[Record, Rejection]]) -> None:
        publisher, topic = self._dead_letters, self.dead_letter_topic
        if publisher is None or topic is None:
            return
        messages = [
            Message(
                topic,
                record.value,
                key=record.key,
                headers=(
                    *record.headers,
                    ("error-reason", rejection.reason.encode()),
                    ("source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
                ),
            )
            for record, rejection in rejected
        ]
        try:
            await publisher.publish_many(messages)
        except BusError as exc:
            logger.warning("%d dead letter(s) not published (%s); they are in errors", len(messages), exc)
