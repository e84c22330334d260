"""The data version reader behind `/search`'s freshness check."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.storage import migrations
from eventeye.core.storage.engine import create_engine, write_transaction
from eventeye.plans import repository
from eventeye.plans.repository import DataVersionReader


async def bump(engine: AsyncEngine) -> int:
    async with write_transaction(engine) as conn:
        return await repository.bump_data_version(conn, at=datetime.now(UTC))


async def test_every_read_sees_the_latest_committed_version(engine: AsyncEngine, backend: str) -> None:
    reader = DataVersionReader(engine)
    try:
        assert await reader.read() == 0
        for expected in (1, 2, 3):
            assert await bump(engine) == expected
            assert await reader.read() == expected
            if backend == "sqlite":
                assert reader.read_now() == expected
            else:
                assert reader.read_now() is None  # PostgreSQL: only the awaited read
    finally:
        await reader.close()


async def test_reconnects_after_a_failed_read(engine: AsyncEngine) -> None:
    reader = DataVersionReader(engine)
    await reader.read()
    await reader.close()  # as after an error: the held connection is gone
    await bump(engine)
    try:
        assert await reader.read() == 1
    finally:
        await reader.close()


@pytest.mark.timeout(4)  # sqlite3 waits 5 s by default: waiting at all fails this test
async def test_on_sqlite_the_immediate_read_never_waits(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrations.upgrade(engine)
    await bump(engine)
    await engine.dispose()  # close the pool: an exclusive lock needs every other connection gone
    reader = DataVersionReader(engine)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("PRAGMA locking_mode=EXCLUSIVE")
        blocker.execute("BEGIN EXCLUSIVE")
        blocker.execute("UPDATE plans_state SET data_version = 7")
        assert reader.read_now() is None  # busy: answers at once instead of waiting (busy_timeout is 10 s elsewhere)
        blocker.execute("COMMIT")
        blocker.close()
        assert reader.read_now() == 7
    finally:
        await reader.close()
        await engine.dispose()


@pytest.mark.parametrize("database", [":memory:"])
def test_an_in_memory_sqlite_has_no_immediate_read(database: str) -> None:
    reader = DataVersionReader(create_engine(f"sqlite+aiosqlite:///{database}"))
    assert reader.read_now() is None
