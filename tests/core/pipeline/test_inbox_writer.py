"""The inbox's group commit: requests queued during a write share the next one, and none is left waiting."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.pipeline.envelope import Envelope
from eventeye.core.pipeline.service import Pipeline
from eventeye.errors import Unavailable
from tests.core.pipeline.support import envelopes


class HeldWrites:
    """Stands in for the inbox's write: records each write's size and holds it until released."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, items: list[Envelope]) -> None:
        self.sizes.append(len(items))
        self.started.set()
        await self.release.wait()


@pytest.fixture
def held(engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[Pipeline, HeldWrites]:
    pipeline = Pipeline(engine, settings)
    writes = HeldWrites()
    monkeypatch.setattr(pipeline.table_inbox, "_append", writes)
    return pipeline, writes


async def test_requests_queued_during_a_write_share_the_next_one(held: tuple[Pipeline, HeldWrites]) -> None:
    pipeline, writes = held
    inbox = pipeline.table_inbox
    writer = asyncio.create_task(inbox.run_writer())
    try:
        await asyncio.sleep(0)
        first = asyncio.create_task(inbox.append(envelopes(1)))
        await writes.started.wait()
        queued = [asyncio.create_task(inbox.append(envelopes(n))) for n in (2, 3, 4)]
        await asyncio.sleep(0.05)
        assert not first.done()  # answered only once written
        assert not any(task.done() for task in queued)
        writes.release.set()
        await asyncio.wait_for(asyncio.gather(first, *queued), timeout=5)
    finally:
        writer.cancel()
        await pipeline.close()
    assert writes.sizes == [1, 9]
    assert inbox.backlog == 10


async def test_a_write_cut_short_by_shutdown_answers_its_requests(held: tuple[Pipeline, HeldWrites]) -> None:
    pipeline, writes = held
    inbox = pipeline.table_inbox
    writer = asyncio.create_task(inbox.run_writer())
    await asyncio.sleep(0)
    in_flight = asyncio.create_task(inbox.append(envelopes(2)))
    await writes.started.wait()
    queued = asyncio.create_task(inbox.append(envelopes(1)))
    await asyncio.sleep(0)
    writer.cancel()
    try:
        for request in (in_flight, queued):
            with pytest.raises(Unavailable, match="shutting down"):
                await asyncio.wait_for(request, timeout=5)
    finally:
        await pipeline.close()
    assert inbox.backlog == 0
