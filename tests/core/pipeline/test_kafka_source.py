"""The Kafka inbox source on a real broker: ids, offsets after the commit, rejections, dead letters, the loop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.config import Settings
from eventeye.core.bus import KafkaBus, Message
from eventeye.core.pipeline.envelope import Envelope
from eventeye.core.pipeline.inbox import Batch
from eventeye.core.pipeline.kafka_source import InvalidRecord, KafkaBatch, KafkaInboxSource
from eventeye.core.pipeline.processor import HandlerContext, HandlerResult
from eventeye.core.pipeline.service import Pipeline
from eventeye.core.storage.engine import write_transaction
from eventeye.core.storage.tables import errors
from tests.core.bus.conftest import FAST, kafka_settings
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.slow

FETCH = replace(FAST, fetch_max_wait=0.02)


def parse(value: bytes) -> tuple[str, bytes]:
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise InvalidRecord("not JSON", field="value") from None
    if not isinstance(payload, dict):
        raise InvalidRecord("not an object", field="$")
    return "thing", value


@pytest.fixture
def topic() -> str:
    return f"things-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def group() -> str:
    return f"group-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bus(kafka_bootstrap_servers: str) -> KafkaBus:
    return KafkaBus(kafka_settings(kafka_bootstrap_servers), timeouts=FETCH)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exits:
        yield exits


async def produce(bus: KafkaBus, topic: str, *values: bytes, headers: Sequence[tuple[str, bytes]] = ()) -> None:
    await bus.ensure_topics([topic], partitions=2)
    async with bus.publisher() as publisher:
        await publisher.publish_many(Message(topic, value, headers=headers) for value in values)


def new_source(bus: KafkaBus, topic: str, group: str, **options: Any) -> KafkaInboxSource:
    return KafkaInboxSource(bus, [topic], module="things", parse=parse, group_id=group, partitions=2, **options)


class _TooFew(Exception):
    pass


async def fetch(engine: AsyncEngine, source: KafkaInboxSource, count: int, *, limit: int = 100) -> Batch:
    """Fetch once ``count`` records are ready, in a transaction that commits (earlier tries roll back)."""
    for _ in range(100):
        await source.wait(0.1)
        try:
            async with write_transaction(engine) as conn:
                batch = await source.fetch(conn, limit)
                if batch is None or len(_records(batch)) < min(count, limit):
                    raise _TooFew()
        except _TooFew:
            continue
        return batch
    raise AssertionError(f"{count} records never came")


def _records(batch: Batch) -> Sequence[Any]:
    assert isinstance(batch, KafkaBatch)
    return batch.records.records


async def nothing_left(engine: AsyncEngine, source: KafkaInboxSource) -> bool:
    """True when the group has nothing more for ``source`` (after its assignment settled)."""
    await eventually(lambda: asyncio.sleep(0.1, source.assignment()), bool, timeout=15)
    for _ in range(5):
        await source.wait(0.2)
        async with write_transaction(engine) as conn:
            if await source.fetch(conn, 100) is not None:
                return False
    return True


async def error_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(select(errors)))


class TestEnvelopes:
    async def test_ids_come_from_the_id_header_or_from_the_place_in_the_log(
        self, bus: KafkaBus, topic: str, group: str, engine: AsyncEngine, stack: AsyncExitStack
    ) -> None:
        given = uuid.uuid4()
        await produce(bus, topic, b'{"n": 1}', headers=[("id", str(given).encode())])
        await produce(bus, topic, b'{"n": 2}')
        first = await stack.enter_async_context(new_source(bus, topic, group))
        other = await stack.enter_async_context(new_source(bus, topic, f"{group}-other"))

        envelopes = (await fetch(engine, first, 2)).envelopes
        again = (await fetch(engine, other, 2)).envelopes

        by_body = {e.body: e for e in envelopes}
        assert by_body[b'{"n": 1}'].id == given
        assert by_body[b'{"n": 2}'].id.version == 8
        assert {e.id for e in again} == {e.id for e in envelopes}
        assert {(e.module, e.type, e.source) for e in envelopes} == {("things", "thing", f"kafka:{topic}")}


class TestOffsets:
    async def test_records_not_committed_come_again_as_the_same_events(
        self, bus: KafkaBus, topic: str, group: str, engine: AsyncEngine, stack: AsyncExitStack
    ) -> None:
        await produce(bus, topic, *(b'{"n": %d}' % n for n in range(3)))
        async with new_source(bus, topic, group) as crashed:
            lost = await fetch(engine, crashed, 3)
        survivor = await stack.enter_async_context(new_source(bus, topic, group))

        redelivered = await fetch(engine, survivor, 3)
        await survivor.committed(redelivered)
        await survivor.close()
        latecomer = await stack.enter_async_context(new_source(bus, topic, group))

        assert sorted(e.id for e in redelivered.envelopes) == sorted(e.id for e in lost.envelopes)
        assert await nothing_left(engine, latecomer)

    async def test_a_fetch_takes_at_most_limit_records_and_keeps_the_rest(
        self, bus: KafkaBus, topic: str, group: str, engine: AsyncEngine, stack: AsyncExitStack
    ) -> None:
        await produce(bus, topic, *(b'{"n": %d}' % n for n in range(5)))
        source = await stack.enter_async_context(new_source(bus, topic, group))

        first = await fetch(engine, source, 2, limit=2)
        await source.committed(first)
        rest = await fetch(engine, source, 3)

        assert (len(first.envelopes), len(rest.envelopes)) == (2, 3)
        assert {e.body for e in [*first.envelopes, *rest.envelopes]} == {b'{"n": %d}' % n for n in range(5)}


class TestRejections:
    async def test_records_that_cannot_become_events_land_in_errors_and_are_committed(
        self, bus: KafkaBus, topic: str, group: str, engine: AsyncEngine, stack: AsyncExitStack
    ) -> None:
        await produce(bus, topic, b'{"n": 1}', b"not json", b"", b"[1]", b'{"n": 2}')
        source = await stack.enter_async_context(new_source(bus, topic, group))

        batch = await fetch(engine, source, 5)
        await source.committed(batch)
        await source.close()
        latecomer = await stack.enter_async_context(new_source(bus, topic, group))

        assert sorted(e.body for e in batch.envelopes) == [b'{"n": 1}', b'{"n": 2}']
        rows = await error_rows(engine)
        assert sorted((r.raw, r.field, r.reason) for r in rows) == [
            ("", "value", "the record has no value"),
            ("[1]", "$", "not an object"),
            ("not json", "value", "not JSON"),
        ]
        assert {(r.kind, r.module, r.source) for r in rows} == {("malformed", "things", f"kafka:{topic}")}
        assert await nothing_left(engine, latecomer)

    async def test_rejections_roll_back_with_the_transaction_and_come_again(
        self, bus: KafkaBus, topic: str, group: str, engine: AsyncEngine, stack: AsyncExitStack
    ) -> None:
        await produce(bus, topic, b"not json")
        source = await stack.enter_async_context(new_source(bus, topic, group))
        await fetch(engine, source, 1)
        await eventually(lambda: error_rows(engine), lambda rows: len(rows) == 1)

        async def failing(conn: AsyncConnection) -> None:
            await source.fetch(conn, 10)
            raise RuntimeError("the batch failed")

        async with engine.begin() as conn:
            await conn.execute(errors.delete())
        with pytest.raises(RuntimeError):
            async with write_transaction(engine) as conn:
                await failing(conn)

        assert await error_rows(engine) == []
        assert len((await fetch(engine, source, 1)).envelopes) == 0
        assert len(await error_rows(engine)) == 1

    async def test_dead_letters_carry_the_record_and_the_reason(
        self, bus: KafkaBus, topic: str, group: str, engine: AsyncEngine, stack: AsyncExitStack
    ) -> None:
        dead = f"{topic}.dead"
        await bus.ensure_topics([dead])
        await produce(bus, topic, b"not json", b'{"n": 1}')
        source = await stack.enter_async_context(new_source(bus, topic, group, dead_letter_topic=dead))

        await source.committed(await fetch(engine, source, 2))

        reader = await stack.enter_async_context(bus.consumer([dead], group_id=f"{group}-dead"))
        [letter] = await eventually(lambda: reader.poll(wait=0.2), bool, timeout=15)
        headers = dict(letter.headers)
        assert letter.value == b"not json"
        assert headers["error-reason"] == b"not JSON"
        assert headers["source"].startswith(f"{topic}/".encode())


class Recorder:
    """A handler that keeps what it was given."""

    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    async def handle(self, conn: AsyncConnection, envelopes: Sequence[Envelope], ctx: HandlerContext) -> HandlerResult:
        self.seen.extend(envelopes)
        return HandlerResult()


class TestPipeline:
    async def test_a_source_gets_a_processor_loop_in_worker_processes_only(
        self, bus: KafkaBus, topic: str, group: str, engine: AsyncEngine, settings: Settings
    ) -> None:
        pipeline = Pipeline(engine, settings)
        recorder = Recorder()
        pipeline.add_handler("things", recorder)
        source = new_source(bus, topic, group)
        pipeline.add_source("things", source)
        await produce(bus, topic, b'{"n": 1}', b'{"n": 2}')

        [spec] = [spec for spec in pipeline.tasks({"worker"}) if spec.name == "processor:things"]
        task = asyncio.create_task(spec.run())
        try:
            await eventually(lambda: asyncio.sleep(0, recorder.seen), lambda seen: len(seen) == 2, timeout=20)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        assert "processor:things" not in {spec.name for spec in pipeline.tasks({"api"})}
        assert source.assignment() == frozenset()
        with pytest.raises(ValueError, match="already"):
            pipeline.add_source("things", source)
