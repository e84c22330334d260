"""A Kafka inbox: the processor reads a module's topics as a member of a consumer group.

```python
source = KafkaInboxSource(bus, ["intellisite.detections"], module="vehicles", parse=parse_detection)
pipeline.add_source("vehicles", source)   # a processor loop of its own in worker processes
```

Each record becomes an envelope. Its id is the UUID in the record's ``id``
header, or one derived from the record's timestamp and its place in the log
(``record_event_id``), so that a record delivered again is the same event
and is stored once. Offsets are committed only after the processor's
transaction committed: at-least-once delivery plus idempotent writes. A
record that cannot become an envelope is recorded in ``errors`` in that same
transaction (and published to the dead-letter topic, when one is set); it
never stops the consumer.

A background task polls and decodes ahead (up to two batches), so that
reading the next batch overlaps storing the current one, and no database
transaction stays open while the broker has nothing to give.
"""

from __future__ import annotations

import asyncio
import hashlib
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
from eventeye.core.tasks import wait_at_most

logger = logging.getLogger("eventeye.inbox.kafka")

ID_HEADER = "id"
RAW_LIMIT = 8192
MAX_RECORD_BYTES = 1024 * 1024
AHEAD = 2
"""Batches decoded ahead of the processor."""

REJECTED = Counter("eventeye_kafka_records_rejected_total", "Records that could not become events", ["topic"])

Place = tuple[str, int]
Decoded = tuple[Record, Envelope | Rejection]


class InvalidRecord(ValueError):
    """A record that cannot become an event; ``field`` names the part at fault."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


RecordParser = Callable[[bytes], tuple[str, bytes]]
"""Turns a record's value into ``(event type, envelope body)``; raises ``InvalidRecord`` saying why it cannot."""


def record_event_id(record: Record) -> uuid.UUID:
    """The UUID of the record's ``id`` header; else a deterministic, time-ordered one (UUIDv8).

    Its first 48 bits are the record's timestamp in milliseconds (as in a
    UUIDv7, so that ids of new records sort last and index inserts stay
    local), the other 74 a SHA-1 of topic, partition and offset.
    """
    for name, value in record.headers:
        if name == ID_HEADER:
            try:
                return uuid.UUID(value.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                break
    digest = hashlib.sha1(f"{record.topic}/{record.partition}/{record.offset}".encode()).digest()
    hashed = int.from_bytes(digest[:10])
    bits = (record.timestamp & 0xFFFF_FFFF_FFFF) << 80 | 0x8 << 76 | (hashed >> 62 & 0xFFF) << 64
    return uuid.UUID(int=bits | 0b10 << 62 | hashed & 0x3FFF_FFFF_FFFF_FFFF)


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
        self._reader: asyncio.Task[None] | None = None
        self._buffer: list[Decoded] = []
        self._inflight: list[Decoded] = []
        self._next: dict[Place, int] = {}
        self._assigned: frozenset[Place] = frozenset()
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._sources: dict[str, str] = {}
        self._instant: tuple[int, datetime] = (0, datetime.fromtimestamp(0, UTC))

    # Lifecycle

    async def start(self) -> None:
        """Create missing topics, join the group, connect the dead-letter publisher, start reading."""
        await self.bus.ensure_topics(self.topics, partitions=self.partitions)
        consumer = self.bus.consumer(self.topics, group_id=self.group_id)
        await consumer.start()
        self._consumer = consumer
        if self.dead_letter_topic:
            publisher = self.bus.publisher()
            await publisher.start()
            self._dead_letters = publisher
        self._reader = asyncio.create_task(self._read_ahead(consumer), name=f"kafka-reader:{self.module}")

    async def close(self) -> None:
        """Leave the group; records fetched but not committed go to the other members."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        consumer, self._consumer = self._consumer, None
        publisher, self._dead_letters = self._dead_letters, None
        self._buffer, self._inflight, self._next, self._assigned = [], [], {}, frozenset()
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

    def assignment(self) -> frozenset[Place]:
        """The partitions this member reads now."""
        return self._consumer.assignment() if self._consumer is not None else frozenset()

    # InboxSource

    async def fetch(self, conn: AsyncConnection, limit: int) -> Batch | None:
        self._check_reader()
        if self._inflight:  # a batch whose transaction failed: its records come first again
            self._buffer[:0] = self._inflight
            self._inflight = []
        taken, self._buffer = self._buffer[:limit], self._buffer[limit:]
        if not taken:
            return None
        self._inflight = taken
        self._room.set()
        envelopes = [decoded for _, decoded in taken if isinstance(decoded, Envelope)]
        rejected = tuple((record, decoded) for record, decoded in taken if isinstance(decoded, Rejection))
        if rejected:
            rejections = [rejection for _, rejection in rejected]
            await pipeline_repository.insert_errors(conn, rejections=rejections, at=datetime.now(UTC))
        records = RecordBatch(tuple(record for record, _ in taken))
        return KafkaBatch(envelopes=envelopes, records=records, rejected=rejected)

    async def settle(self, conn: AsyncConnection, batch: Batch) -> None:
        """Nothing to do in the transaction: the offsets are committed after it."""

    async def committed(self, batch: Batch) -> None:
        if not isinstance(batch, KafkaBatch):
            raise TypeError("a Kafka source settles only the batches it fetched")
        self._inflight = []
        if batch.rejected:
            await self._publish_dead_letters(batch.rejected)
        consumer = self._consumer
        if consumer is None:
            return
        try:
            if not await consumer.commit(batch.records):
                logger.info("some partitions moved during the batch; their records will be delivered again")
        except BusError as exc:
            logger.warning("committing offsets failed (%s); the records will be delivered again", exc)

    async def wait(self, max_wait: float) -> None:
        """Until records are ready (at most ``max_wait`` seconds, or ``poll_wait`` if longer)."""
        self._check_reader()
        if self._buffer or self._inflight:
            return
        self._arrived.clear()
        await wait_at_most(self._arrived.wait(), max(max_wait, self.poll_wait))

    # Reading ahead

    def _check_reader(self) -> None:
        reader = self._reader
        if reader is None:
            raise BusError("the Kafka source is not started")
        if reader.done() and not reader.cancelled() and (error := reader.exception()) is not None:
            raise error

    async def _read_ahead(self, consumer: Consumer) -> None:
        while True:
            if len(self._buffer) >= AHEAD * self.max_records:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                batch = await consumer.poll(max_records=self.max_records, wait=self.poll_wait)
            except BusUnavailable as exc:
                logger.warning("the broker is unavailable (%s); polling again shortly", exc)
                await asyncio.sleep(self.poll_wait)
                continue
            self._note_assignment(consumer.assignment())
            if batch:
                self._take(batch)

    def _take(self, batch: RecordBatch) -> None:
        seen = self._next
        # Only after a rebalance can records come that are already buffered.
        fresh = [r for r in batch if r.offset >= seen.get((r.topic, r.partition), -1)]
        seen.update(batch.offsets())
        self._buffer += [(record, self._decode(record)) for record in fresh]
        self._arrived.set()

    def _note_assignment(self, assigned: frozenset[Place]) -> None:
        """Log a change of partitions, and drop what was read from the ones that moved away."""
        if assigned == self._assigned:
            return
        self._assigned = assigned
        held = ", ".join(f"{topic}[{partition}]" for topic, partition in sorted(assigned)) or "none"
        logger.info("%s reads partitions: %s", self.module, held)
        self._buffer = [item for item in self._buffer if (item[0].topic, item[0].partition) in assigned]
        self._next = {place: offset for place, offset in self._next.items() if place in assigned}

    # Decoding

    def _received_at(self, timestamp: int) -> datetime:
        # Records of one producer batch share their timestamp: convert it once.
        if self._instant[0] != timestamp:
            self._instant = (timestamp, datetime.fromtimestamp(timestamp / 1000, UTC))
        return self._instant[1]

    def _source(self, topic: str) -> str:
        source = self._sources.get(topic)
        if source is None:
            source = self._sources[topic] = f"kafka:{topic}"[:150]
        return source

    def _decode(self, record: Record) -> Envelope | Rejection:
        event_id = record_event_id(record)
        received_at = self._received_at(record.timestamp)
        source = self._source(record.topic)
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
        return Envelope(event_id, self.module, type, source, received_at, body)

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
