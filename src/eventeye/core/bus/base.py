"""The message bus port: publishers, group consumers, their records and their errors.

Two adapters implement it: ``kafka.KafkaBus`` (aiokafka) and ``memory.MemoryBus``
(an in-process twin with the same delivery rules). Errors of the bus:

    EventeyeError
    └── BusError                  500 bus_error        anything the bus could not do
        ├── BusUnavailable        503 bus_unavailable  no broker reachable, or it timed out; retry later
        ├── BusRejected           500 bus_rejected     the broker refused the request (auth, size, topic)
        └── BusClosed             500 bus_closed       the publisher or consumer is already closed

Delivery is at least once: a consumer's offsets move only when it calls
``commit(batch)``, so a batch that was not committed (the consumer crashed, or
its partitions moved to another member) is delivered again. Consumers of the
bus must therefore store idempotently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, Self

from eventeye.errors import EventeyeError, Unavailable

logger = logging.getLogger("eventeye.bus")

Headers = Sequence[tuple[str, bytes]]
"""Record headers: ``(name, value)`` pairs; a name may repeat."""

StartAt = Literal["earliest", "latest"]
"""Where a group with no committed offset starts reading a partition."""


class BusError(EventeyeError):
    """The bus could not do what was asked."""

    code = "bus_error"


class BusUnavailable(BusError, Unavailable):
    """No broker answered in time; the same call may succeed later."""

    status_code = 503
    code = "bus_unavailable"


class BusRejected(BusError):
    """The broker refused the request: credentials, permissions, record size or topic."""

    code = "bus_rejected"


class BusClosed(BusError):
    """The publisher or consumer was used after ``close()``."""

    code = "bus_closed"


@dataclass(frozen=True, slots=True)
class Message:
    """A record to publish."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Record:
    """A record as consumed: where it sits in the log, and what it holds."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int
    """Milliseconds since the epoch, as set by the producer (or the broker)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Records from one poll, in log order within each partition."""

    records: tuple[Record, ...] = ()

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def offsets(self) -> dict[tuple[str, int], int]:
        """The offsets a commit of this batch stores: the next one to read, per ``(topic, partition)``."""
        positions: dict[tuple[str, int], int] = {}
        for record in self.records:
            place = (record.topic, record.partition)
            positions[place] = max(positions.get(place, 0), record.offset + 1)
        return positions


class Publisher(Protocol):
    """Publishes records to topics; records with the same key keep their order.

    ```python
    async with bus.publisher() as publisher:
        await publisher.publish("alerts", b'{"id": 1}', key=b"camera-7")
        await publisher.publish_many(Message("detections", body) for body in bodies)
    ```

    A call returns once the broker acknowledged every record (``acks=all``).
    If it raises, some of the records may have been stored anyway: publish
    again and let consumers drop duplicates.
    """

    async def start(self) -> None:
        """Connect; ``async with`` calls it."""
        ...

    async def publish(self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()) -> None:
        """Publish one record and wait for its acknowledgement."""
        await self.publish_many([Message(topic, value, key, headers)])

    async def publish_many(self, messages: Iterable[Message]) -> None:
        """Publish many records in as few requests as possible and wait for all of them."""
        ...

    async def close(self) -> None:
        """Flush what is pending and disconnect; later calls raise ``BusClosed``."""
        ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class Consumer(Protocol):
    """One member of a consumer group: partitions of its topics are shared among the members.

    ```python
    async with bus.consumer(["detections"], group_id="indexer") as consumer:
        async for batch in consumer.batches(max_records=1000):
            await store(batch)             # idempotent: a batch may come again
            await consumer.commit(batch)   # only now does the group move on
    ```

    ``batches()`` ends when the consumer is closed (from another task, say).
    After a rebalance each member resumes its partitions at their committed
    offsets, so records fetched but not committed are delivered again.
    """

    async def start(self) -> None:
        """Join the group; ``async with`` calls it."""
        ...

    async def poll(self, *, max_records: int = 500, wait: float = 1.0) -> Batch:
        """The next records of this member's partitions; an empty batch after ``wait`` seconds."""
        ...

    async def commit(self, batch: Batch) -> bool:
        """Commit ``batch``: the group will not deliver its records again.

        Returns False when some of its partitions moved to another member
        meanwhile (or the group is rebalancing right now): their records
        will be delivered again, to whichever member holds them next.
        """
        ...

    async def close(self) -> None:
        """Leave the group (its partitions go to the other members); later calls raise ``BusClosed``."""
        ...

    def assignment(self) -> frozenset[tuple[str, int]]:
        """The ``(topic, partition)`` pairs this member holds now (they change with rebalances)."""
        ...

    async def batches(
        self, *, max_records: int = 500, wait: float = 1.0, max_backoff: float = 5.0
    ) -> AsyncIterator[Batch]:
        """Non-empty batches until the consumer is closed; waits out an unreachable broker with backoff."""
        delay = 0.0
        while True:
            try:
                batch = await self.poll(max_records=max_records, wait=wait)
            except BusClosed:
                return
            except BusUnavailable as exc:
                delay = min(max_backoff, max(0.1, delay * 2))
                logger.warning("bus unavailable (%s); polling again in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            delay = 0.0
            if batch:
                yield batch

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class Bus(Protocol):
    """Where publishers and group consumers come from: one broker, or the in-memory twin."""

    async def ensure_topics(self, topics: Sequence[str], *, partitions: int = 1) -> None:
        """Create the topics that do not exist yet (existing ones are left as they are)."""
        ...

    def publisher(self) -> Publisher:
        """A new publisher, not started yet."""
        ...

    def consumer(
        self, topics: Sequence[str], *, group_id: str | None = None, start_at: StartAt = "earliest"
    ) -> Consumer:
        """A new member of ``group_id`` (default: the configured group) for ``topics``, not started yet."""
        ...
