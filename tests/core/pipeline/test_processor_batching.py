"""How the processor paces itself: full batches back to back, a pause to gather once caught up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.config import Settings
from eventeye.core.pipeline.envelope import Envelope
from eventeye.core.pipeline.inbox import Batch
from eventeye.core.pipeline.processor import HandlerContext, HandlerResult
from eventeye.core.pipeline.service import Pipeline
from tests.core.pipeline.support import Refuser, append, envelopes, processed_ids
from tests.fixtures.waiting import eventually

POISON = b'{"poison": true}'


class PoisonIntolerant(Refuser):
    """Refuses events like ``Refuser``, but fails the whole batch when one carries ``POISON``."""

    async def handle(self, conn: AsyncConnection, envelopes: Sequence[Envelope], ctx: HandlerContext) -> HandlerResult:
        if any(e.body == POISON for e in envelopes):
            raise ValueError("poison")
        return await super().handle(conn, envelopes, ctx)


@pytest.fixture
def patient(make_settings: Callable[..., Settings]) -> Settings:
    """Batches of 10, and a linger no test waits out."""
    return make_settings(processor_batch_size=10, processor_linger=timedelta(minutes=10))


def counted_fetches(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the processor fetches (0: it found none)."""
    sizes: list[int] = []
    real = pipeline.source.fetch

    async def fetch(conn: AsyncConnection, limit: int) -> Batch | None:
        batch = await real(conn, limit)
        sizes.append(len(batch.envelopes) if batch else 0)
        return batch

    monkeypatch.setattr(pipeline.source, "fetch", fetch)
    return sizes


async def test_full_batches_follow_each_other_and_a_short_one_is_followed_by_a_pause(
    engine: AsyncEngine, patient: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = Pipeline(engine, patient)
    pipeline.add_handler("things", Refuser())
    items = envelopes(25)
    await append(pipeline.table_inbox, items)
    sizes = counted_fetches(pipeline, monkeypatch)
    running = asyncio.create_task(pipeline.processor.run(pipeline.source))
    try:
        await eventually(lambda: processed_ids(engine), lambda ids: len(ids) == 25)
        await asyncio.sleep(0.3)
        # Caught up after the short batch: no look for more until the linger is over.
        assert sizes == [10, 10, 5]
    finally:
        running.cancel()
        await pipeline.close()
    assert await processed_ids(engine) == sorted(str(e.id) for e in items)


async def test_a_failed_batch_is_retried_event_by_event_without_pauses(engine: AsyncEngine, patient: Settings) -> None:
    pipeline = Pipeline(engine, patient)
    pipeline.add_handler("things", PoisonIntolerant())
    items = envelopes(3) + envelopes(1, body=POISON) + envelopes(2)
    await append(pipeline.table_inbox, items)
    running = asyncio.create_task(pipeline.processor.run(pipeline.source))
    try:
        # Six batches of one event, none of them waiting out the ten-minute linger.
        await eventually(lambda: processed_ids(engine), lambda ids: len(ids) == 6)
    finally:
        running.cancel()
        await pipeline.close()
    assert await processed_ids(engine) == sorted(str(e.id) for e in items)
