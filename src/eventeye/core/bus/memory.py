"""The in-process twin of the Kafka adapter, for tests and single-process runs.

It keeps Kafka's delivery rules: topics have partitions, a key always lands
in the same partition (Kafka's own murmur2 hash, so the same partition as on
a broker), partitions are shared round-robin among the members of a group,
and a member that joins after a rebalance resumes at the committed offsets.
Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka.partitioner import murmur2

from eventeye.core.bus.base import Batch, Bus, BusClosed, BusError, Consumer, Message, Publisher, Record, StartAt
from eventeye.core.tasks import wait_at_most

Place = tuple[str, int]


class MemoryBus(Bus):
    """Topics, groups and their offsets in memory; ``partitions`` is the size of auto-created topics."""

    def __init__(self, *, partitions: int = 1, group_id: str = "eventeye") -> None:
        self._partitions = partitions
        self._group_id = group_id
        self._logs: dict[str, list[list[Record]]] = {}
        self._groups: dict[str, _Group] = {}
        self._round_robin: dict[str, itertools.count[int]] = {}
        self._waiters: set[asyncio.Future[None]] = set()

    async def ensure_topics(self, topics: Sequence[str], *, partitions: int = 1) -> None:
        for topic in topics:
            self._create(topic, partitions)

    def publisher(self) -> MemoryPublisher:
        return MemoryPublisher(self)

    def consumer(
        self, topics: Sequence[str], *, group_id: str | None = None, start_at: StartAt = "earliest"
    ) -> MemoryConsumer:
        return MemoryConsumer(self, list(topics), group_id or self._group_id, start_at)

    def records(self, topic: str) -> list[Record]:
        """Every record of ``topic``, partition by partition (for assertions in tests)."""
        return [record for log in self._logs.get(topic, []) for record in log]

    def committed(self, group_id: str) -> dict[Place, int]:
        """The committed offsets of a group: the next offset to read, per ``(topic, partition)``."""
        group = self._groups.get(group_id)
        return dict(group.committed) if group else {}

    def _create(self, topic: str, partitions: int) -> list[list[Record]]:
        if topic not in self._logs:
            self._logs[topic] = [[] for _ in range(partitions)]
            for group in self._groups.values():
                if any(topic in member.topics for member in group.members):
                    self._rebalance(group)
        return self._logs[topic]

    def _append(self, messages: Iterable[Message]) -> None:
        now = time.time_ns() // 1_000_000
        for message in messages:
            logs = self._create(message.topic, self._partitions)
            if message.key is None:
                counter = self._round_robin.setdefault(message.topic, itertools.count())
                partition = next(counter) % len(logs)
            else:
                partition = (murmur2(message.key) & 0x7FFFFFFF) % len(logs)
            log = logs[partition]
            headers = tuple(message.headers)
            log.append(Record(message.topic, partition, len(log), message.key, message.value, headers, now))
        self._wake()

    def _join(self, member: MemoryConsumer) -> _Group:
        group = self._groups.setdefault(member.group_id, _Group())
        group.members.append(member)
        self._rebalance(group)
        return group

    def _leave(self, member: MemoryConsumer, group: _Group) -> None:
        group.members.remove(member)
        self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        """Kafka's round-robin assignment: every partition in order, members in turn."""
        places = sorted((topic, p) for topic, logs in self._logs.items() for p in range(len(logs)))
        turns = itertools.cycle(group.members)
        assigned: dict[MemoryConsumer, list[Place]] = {member: [] for member in group.members}
        for place in places:
            subscribers = [m for m in group.members if place[0] in m.topics]
            if subscribers:
                member = next(m for m in turns if m in subscribers)
                assigned[member].append(place)
        for member, member_places in assigned.items():
            member.assign({place: len(self._logs[place[0]][place[1]]) for place in member_places}, group.committed)
        self._wake()

    def _read(self, place: Place, offset: int, limit: int) -> list[Record]:
        return self._logs[place[0]][place[1]][offset : offset + limit]

    async def _wait(self, seconds: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await wait_at_most(waiter, seconds)
        finally:
            self._waiters.discard(waiter)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()


class MemoryPublisher(Publisher):
    """Appends to the bus's topics; acknowledged as soon as it returns."""

    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._started = False
        self._closed = False

    async def start(self) -> None:
        if self._closed:
            raise BusClosed("publisher is closed")
        self._started = True

    async def publish_many(self, messages: Iterable[Message]) -> None:
        if self._closed:
            raise BusClosed("publisher is closed")
        if not self._started:
            raise BusError("publisher is not started")
        self._bus._append(list(messages))

    async def close(self) -> None:
        self._closed = True


class MemoryConsumer(Consumer):
    """A member of an in-memory consumer group; see ``Consumer`` for the contract."""

    def __init__(self, bus: MemoryBus, topics: list[str], group_id: str, start_at: StartAt) -> None:
        self.bus = bus
        self.topics = topics
        self.group_id = group_id
        self.start_at = start_at
        self._group: _Group | None = None
        self._closed = False
        self._positions: dict[Place, int] = {}
        self._turn = 0

    def assign(self, ends: dict[Place, int], committed: dict[Place, int]) -> None:
        """Take ``ends`` (assigned partitions and their log ends) and resume each at its committed offset."""
        fallback = {place: 0 if self.start_at == "earliest" else end for place, end in ends.items()}
        self._positions = {place: committed.get(place, fallback[place]) for place in ends}

    async def start(self) -> None:
        if self._closed:
            raise BusClosed("consumer is closed")
        if self._group is None:
            self._group = self.bus._join(self)

    async def poll(self, *, max_records: int = 500, wait: float = 1.0) -> Batch:
        self._require()
        deadline = time.monotonic() + wait
        while not (records := self._take(max_records)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await self.bus._wait(remaining)
            self._require()
        return Batch(tuple(records))

    def _take(self, max_records: int) -> list[Record]:
        places = sorted(self._positions)
        self._turn += 1
        records: list[Record] = []
        for index in range(len(places)):
            place = places[(self._turn + index) % len(places)]
            taken = self.bus._read(place, self._positions[place], max_records - len(records))
            self._positions[place] += len(taken)
            records.extend(taken)
        return records

    async def commit(self, batch: Batch) -> bool:
        group = self._require()
        wanted = batch.offsets()
        owned = {place: offset for place, offset in wanted.items() if place in self._positions}
        group.committed.update(owned)
        return len(owned) == len(wanted)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._group is not None:
            self.bus._leave(self, self._group)

    def assignment(self) -> frozenset[Place]:
        return frozenset(self._positions) if self._group is not None and not self._closed else frozenset()

    def _require(self) -> _Group:
        if self._closed:
            raise BusClosed("consumer is closed")
        if self._group is None:
            raise BusError("consumer is not started")
        return self._group


@dataclass
class _Group:
    members: list[MemoryConsumer] = field(default_factory=list)
    committed: dict[Place, int] = field(default_factory=dict)
