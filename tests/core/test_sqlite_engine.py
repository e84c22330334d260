"""The SQLite engine: connections that stop once, and a terminated connection that does not hang its loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
from sqlalchemy import text

from eventeye.core.storage.engine import create_engine


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
