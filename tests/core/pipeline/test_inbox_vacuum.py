"""PostgreSQL: the worker vacuums the inbox table itself, so processed rows do not pile up at its head."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.pipeline import inbox as inbox_module
from eventeye.core.pipeline.service import Pipeline
from eventeye.core.storage.driver import DriverPool
from tests.core.pipeline.support import Refuser, append, envelopes, processed_ids
from tests.fixtures.waiting import eventually

VACUUM_AFTER = 100


async def vacuums(engine: AsyncEngine) -> int:
    """How many times the inbox table has been vacuumed by hand (as PostgreSQL's statistics count it)."""
    async with engine.connect() as conn:
        statement = text("SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'inbox'::regclass")
        return int((await conn.execute(statement)).scalar_one())


async def process_all(pipeline: Pipeline, engine: AsyncEngine, count: int) -> None:
    """Append ``count`` events and process them with the processor's own steps (batch by batch)."""
    await append(pipeline.table_inbox, envelopes(count))
    done = 0
    while done < count:
        taken = await pipeline.processor.step(pipeline.source)
        assert taken, f"the inbox ran dry after {done} of {count} events"
        done += taken
    assert len(await processed_ids(engine)) >= count


async def test_the_worker_vacuums_the_inbox_after_every_so_many_events(
    engine: AsyncEngine,
    driver: DriverPool,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inbox_module, "VACUUM_AFTER", VACUUM_AFTER)
    pipeline = Pipeline(engine, make_settings(), driver=driver)
    pipeline.add_handler("things", Refuser())
    tasks = {spec.name: spec for spec in pipeline.tasks({"worker"})}
    vacuuming = asyncio.create_task(tasks["inbox-vacuum"].run())
    try:
        async with asyncio.timeout(60):
            before = await vacuums(engine)
            await process_all(pipeline, engine, VACUUM_AFTER - 1)
            await asyncio.sleep(0.5)
            assert await vacuums(engine) == before  # fewer than VACUUM_AFTER processed: not yet
            await process_all(pipeline, engine, VACUUM_AFTER * 3)
            await eventually(lambda: vacuums(engine), lambda count: count > before)
    finally:
        vacuuming.cancel()
        await asyncio.gather(vacuuming, return_exceptions=True)


async def test_no_vacuum_task_where_the_inbox_is_not_a_postgresql_table(
    engine: AsyncEngine, backend: str, make_settings: Callable[..., Settings]
) -> None:
    pipeline = Pipeline(engine, make_settings())  # no driver pool: SQLite, or a PostgreSQL inbox without one
    pipeline.add_handler("things", Refuser())
    names = {spec.name for spec in pipeline.tasks({"worker"})}
    await pipeline.close()
    assert "inbox-vacuum" not in names
    assert ("inbox-pruner" in names) == (backend == "sqlite")
