"""Delivery rules of the bus, the same on the in-memory twin and on a real broker."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import pytest

from eventeye.core.bus import Batch, Bus, BusClosed, BusError, Message
from tests.core.bus.conftest import drain, settle


class TestPublishAndConsume:
    async def test_records_arrive_with_their_key_headers_and_offsets(
        self, bus: Bus, topic: str, group: str, stack: AsyncExitStack
    ) -> None:
        await bus.ensure_topics([topic])
        publisher = await stack.enter_async_context(bus.publisher())
        consumer = await stack.enter_async_context(bus.consumer([topic], group_id=group))
        before = time.time() * 1000
        await publisher.publish(topic, b"first", key=b"k", headers=[("type", b"a"), ("type", b"b")])
        await publisher.publish_many(Message(topic, f"v{i}".encode()) for i in range(3))

        records = await drain(consumer, 4)

        assert [r.value for r in records] == [b"first", b"v0", b"v1", b"v2"]
        assert [r.offset for r in records] == [0, 1, 2, 3]
        assert {(r.topic, r.partition) for r in records} == {(topic, 0)}
        assert (records[0].key, records[1].key) == (b"k", None)
        assert records[0].headers == (("type", b"a"), ("type", b"b"))
        assert records[1].headers == ()
        assert before - 5000 <= records[0].timestamp <= time.time() * 1000 + 5000

    async def test_a_consumer_may_subscribe_to_several_topics(
        self, bus: Bus, topic: str, group: str, stack: AsyncExitStack
    ) -> None:
        other = f"{topic}-other"
        await bus.ensure_topics([topic, other])
        publisher = await stack.enter_async_context(bus.publisher())
        consumer = await stack.enter_async_context(bus.consumer([topic, other], group_id=group))
        await publisher.publish_many([Message(topic, b"a"), Message(other, b"b")])

        records = await drain(consumer, 2)

        assert sorted((r.topic, r.value) for r in records) == [(topic, b"a"), (other, b"b")]


class TestKeyedOrdering:
    async def test_records_with_one_key_share_a_partition_and_keep_their_order(
        self, bus: Bus, topic: str, group: str, stack: AsyncExitStack
    ) -> None:
        await bus.ensure_topics([topic], partitions=4)
        publisher = await stack.enter_async_context(bus.publisher())
        consumer = await stack.enter_async_context(bus.consumer([topic], group_id=group))
        keys = [f"key-{n}".encode() for n in range(8)]
        sent = [Message(topic, f"{i}".encode(), key=keys[i % len(keys)]) for i in range(80)]
        await publisher.publish_many(sent)

        records = await drain(consumer, len(sent))

        assert len(records) == len(sent)
        for key in keys:
            mine = [r for r in records if r.key == key]
            assert len({r.partition for r in mine}) == 1
            assert [r.value for r in mine] == [m.value for m in sent if m.key == key]
        assert len({r.partition for r in records}) > 1


class TestConsumerGroup:
    async def test_two_members_split_the_partitions(
        self, bus: Bus, topic: str, group: str, stack: AsyncExitStack
    ) -> None:
        await bus.ensure_topics([topic], partitions=4)
        publisher = await stack.enter_async_context(bus.publisher())
        first = await stack.enter_async_context(bus.consumer([topic], group_id=group))
        second = await stack.enter_async_context(bus.consumer([topic], group_id=group))
        await settle(first, second, partitions=4)
        sent = [Message(topic, f"{i}".encode(), key=f"key-{i}".encode()) for i in range(40)]
        await publisher.publish_many(sent)

        got_first, got_second = await asyncio.gather(drain(first, 1, within=3), drain(second, 1, within=3))
        got_first += await drain(first, 40 - len(got_first) - len(got_second), within=2)
        got_second += await drain(second, 40 - len(got_first) - len(got_second), within=2)

        assert got_first
        assert got_second
        assert not {r.partition for r in got_first} & {r.partition for r in got_second}
        assert sorted(r.value for r in got_first + got_second) == sorted(m.value for m in sent)

    async def test_records_not_committed_go_to_the_next_member(
        self, bus: Bus, topic: str, group: str, stack: AsyncExitStack
    ) -> None:
        await bus.ensure_topics([topic], partitions=2)
        publisher = await stack.enter_async_context(bus.publisher())
        await publisher.publish_many(Message(topic, f"{i}".encode(), key=f"{i}".encode()) for i in range(6))

        async with bus.consumer([topic], group_id=group) as crashing:
            assert len(await drain(crashing, 6)) == 6  # never committed

        async with bus.consumer([topic], group_id=group) as storing:
            again = await drain(storing, 6)
            assert sorted(r.value for r in again) == [f"{i}".encode() for i in range(6)]
            assert await storing.commit(Batch(tuple(again)))

        await publisher.publish(topic, b"after", key=b"0")
        async with bus.consumer([topic], group_id=group) as later:
            assert [r.value for r in await drain(later, 1)] == [b"after"]
            assert not await later.poll(wait=0.3)

    async def test_a_commit_after_a_rebalance_skips_the_partitions_that_moved(
        self, bus: Bus, topic: str, group: str, stack: AsyncExitStack
    ) -> None:
        await bus.ensure_topics([topic], partitions=2)
        publisher = await stack.enter_async_context(bus.publisher())
        first = await stack.enter_async_context(bus.consumer([topic], group_id=group))
        await settle(first, partitions=2)
        sent = [Message(topic, f"{i}".encode(), key=f"key-{i}".encode()) for i in range(20)]
        await publisher.publish_many(sent)
        fetched = Batch(tuple(await drain(first, 20)))

        second = await stack.enter_async_context(bus.consumer([topic], group_id=group))
        await settle(first, second, partitions=2)

        assert not await first.commit(fetched)
        moved = {p for (_, p) in second.assignment()}
        redelivered = await drain(second, sum(1 for r in fetched if r.partition in moved))
        assert sorted(r.value for r in redelivered) == sorted(r.value for r in fetched if r.partition in moved)

    async def test_a_new_group_may_start_at_the_end(
        self, bus: Bus, topic: str, group: str, stack: AsyncExitStack
    ) -> None:
        await bus.ensure_topics([topic])
        publisher = await stack.enter_async_context(bus.publisher())
        await publisher.publish(topic, b"old")
        consumer = await stack.enter_async_context(bus.consumer([topic], group_id=group, start_at="latest"))
        assert not await consumer.poll(wait=0.5)

        await publisher.publish(topic, b"new")

        assert [r.value for r in await drain(consumer, 1)] == [b"new"]


class TestLifecycle:
    async def test_closed_publishers_and_consumers_refuse_work(self, bus: Bus, topic: str, group: str) -> None:
        await bus.ensure_topics([topic])
        publisher = bus.publisher()
        consumer = bus.consumer([topic], group_id=group)
        with pytest.raises(BusError, match="not started"):
            await publisher.publish(topic, b"x")
        with pytest.raises(BusError, match="not started"):
            await consumer.poll(wait=0)
        async with publisher, consumer:
            pass

        with pytest.raises(BusClosed):
            await publisher.publish(topic, b"x")
        with pytest.raises(BusClosed):
            await consumer.poll(wait=0)
        with pytest.raises(BusClosed):
            await consumer.start()

    async def test_batches_end_when_the_consumer_is_closed(
        self, bus: Bus, topic: str, group: str, stack: AsyncExitStack
    ) -> None:
        await bus.ensure_topics([topic])
        publisher = await stack.enter_async_context(bus.publisher())
        consumer = bus.consumer([topic], group_id=group)
        await consumer.start()
        seen: list[bytes] = []

        async def read() -> None:
            async for batch in consumer.batches(wait=0.2):
                seen.extend(r.value for r in batch)
                await consumer.commit(batch)

        reader = asyncio.create_task(read())
        await publisher.publish(topic, b"one")
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.1)
        await consumer.close()

        await asyncio.wait_for(reader, 10)
        assert seen == [b"one"]
