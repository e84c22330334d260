"""PostgreSQL: the worker vacuums the inbox table itself, so processed rows do not pile up at its head."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

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


@pytest.fixture
async def driver(database_url: str, backend: str, engine: AsyncEngine) -> AsyncIterator[DriverPool]:
    if backend != "postgresql":
        pytest.skip("the inbox is a table of the database on PostgreSQL only (SQLite: a file with its own pruner)")
    pool = DriverPool(database_url, size=2)
    yield pool
    await pool.close()


async def inbox_stats(engine: AsyncEngine) -> tuple[int, int]:
    """(manual vacuums so far, dead rows) of the inbox table, as PostgreSQL counts them."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT vacuum_count, n_dead_tup FROM pg_stat_user_tables WHERE relid = 'inbox'::regclass")
            )
        ).one()
    return row.vacuum_count, row.n_dead_tup


async def process_all(pipeline: Pipeline, engine: AsyncEngine, count: int) -> None:
    await append(pipeline.table_inbox, envelopes(count))
    await eventually(lambda: processed_ids(engine), lambda ids: len(ids) >= count)


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
    assert "inbox-vacuum" in tasks
    running = [asyncio.create_task(tasks[name].run()) for name in ("processor", "inbox-vacuum")]
    try:
        vacuums, _ = await inbox_stats(engine)
        await process_all(pipeline, engine, VACUUM_AFTER - 1)
        await asyncio.sleep(0.5)
        assert (await inbox_stats(engine))[0] == vacuums  # fewer than VACUUM_AFTER processed: not yet
        await process_all(pipeline, engine, VACUUM_AFTER * 3)
        # Vacuumed, and the processed rows are gone, not just counted.
        await eventually(lambda: inbox_stats(engine), lambda stats: stats[0] > vacuums and stats[1] < VACUUM_AFTER)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def test_no_vacuum_task_where_the_inbox_is_not_a_postgresql_table(
    engine: AsyncEngine, backend: str, make_settings: Callable[..., Settings]
) -> None:
    pipeline = Pipeline(engine, make_settings())  # no driver pool: SQLite, or a PostgreSQL inbox without one
    pipeline.add_handler("things", Refuser())
    names = {spec.name for spec in pipeline.tasks({"worker"})}
    assert "inbox-vacuum" not in names
    assert ("inbox-pruner" in names) == (backend == "sqlite")
