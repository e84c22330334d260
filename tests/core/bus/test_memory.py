"""The in-memory twin's own helpers, and the consumer loop's patience with an unreachable broker."""

from __future__ import annotations

import asyncio

import pytest

from eventeye.core.bus import Batch, BusUnavailable, MemoryBus, Message
from eventeye.core.bus.memory import MemoryConsumer


async def test_records_and_committed_offsets_can_be_inspected() -> None:
    bus = MemoryBus(partitions=2)
    async with bus.publisher() as publisher, bus.consumer(["alerts"], group_id="sse") as consumer:
        await publisher.publish_many(Message("alerts", f"{i}".encode()) for i in range(4))
        batch = await consumer.poll(wait=0)
        assert await consumer.commit(Batch(batch.records[:1]))

    assert sorted(r.value for r in bus.records("alerts")) == [b"0", b"1", b"2", b"3"]
    assert {r.partition for r in bus.records("alerts")} == {0, 1}  # auto-created with the bus's partitions
    first = batch.records[0]
    assert bus.committed("sse") == {("alerts", first.partition): first.offset + 1}
    assert bus.committed("nobody") == {}
    assert bus.records("nothing") == []


async def test_an_existing_topic_keeps_its_partitions() -> None:
    bus = MemoryBus()
    await bus.ensure_topics(["t"], partitions=2)
    await bus.ensure_topics(["t"], partitions=8)
    async with bus.publisher() as publisher:
        await publisher.publish_many(Message("t", b"v", key=f"{n}".encode()) for n in range(50))

    assert {r.partition for r in bus.records("t")} == {0, 1}


class FlakyConsumer(MemoryConsumer):
    """Its first polls fail as if the broker were unreachable."""

    failures = 2

    async def poll(self, *, max_records: int = 500, wait: float = 1.0) -> Batch:
        if self.failures:
            self.failures -= 1
            raise BusUnavailable("broker unreachable")
        return await super().poll(max_records=max_records, wait=wait)


async def test_batches_wait_out_an_unreachable_broker(caplog: pytest.LogCaptureFixture) -> None:
    bus = MemoryBus()
    async with bus.publisher() as publisher, FlakyConsumer(bus, ["t"], "g", "earliest") as consumer:
        await publisher.publish("t", b"after the outage")
        batch = await asyncio.wait_for(anext(consumer.batches(wait=0.1)), 5)

    assert [r.value for r in batch] == [b"after the outage"]
    assert consumer.failures == 0
    assert sum("bus unavailable" in r.getMessage() for r in caplog.records) == 2
