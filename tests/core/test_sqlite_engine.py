"""The SQLite engine: a terminated connection neither hangs its loop nor keeps its lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
from sqlalchemy import text

from eventeye.core.storage.engine import create_engine, write_transaction


async def test_closing_a_connection_stopped_meanwhile_returns() -> None:
    connection = await aiosqlite.connect(":memory:")
    closing = asyncio.ensure_future(connection.close())
    await asyncio.sleep(0)  # close() has queued its work on the connection's thread
    connection.stop()  # what SQLAlchemy does when the close it shielded is cancelled
    await asyncio.wait_for(closing, 5)  # stopped twice, it used to wait forever for an exited thread
    assert connection._connection is None


async def test_a_task_cancelled_holding_a_connection_leaves_no_task_behind(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'e.db'}")
    started = asyncio.Event()

    async def hold() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(hold())
    await started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.dispose()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), 5)


async def test_a_connection_dropped_in_a_write_transaction_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with write_transaction(engine) as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
        await conn.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
    conn = await engine.connect()
    await conn.execution_options(eventeye_write=True)
    await conn.begin()
    await conn.execute(text("INSERT INTO t VALUES (4)"))
    driver = (await conn.get_raw_connection()).driver_connection
    cursor = await driver.execute("SELECT n FROM t")  # a statement left part-read, still referenced
    await cursor.fetchone()
    await conn.invalidate()  # what a task cancelled mid-transaction leads to: the connection is closed
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" at once if the closed connection kept its lock
        assert other.execute("SELECT count(*) FROM t").fetchone() == (3,)  # its insert was rolled back
        other.execute("ROLLBACK")
    finally:
        other.close()
        del cursor
        await conn.close()
        await engine.dispose()
