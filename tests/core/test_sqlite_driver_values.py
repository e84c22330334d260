"""Values written on SQLite's driver directly take the exact forms SQLAlchemy stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.storage.driver import sqlite_driver
from eventeye.core.storage.engine import create_engine, write_transaction
from eventeye.core.storage.types import UTCDateTime, from_sqlite_instant, sqlite_instant

metadata = MetaData()
instants = Table("instants", metadata, Column("n", Integer, primary_key=True), Column("at", UTCDateTime))

VALUES = [
    datetime(2021, 1, 1, 9, 0, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2021, 1, 1, 11, 15, 27, 243860, tzinfo=timezone(timedelta(hours=2))),  # another zone: stored in UTC
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2, 3, 4, 5, 6, 7, 8, tzinfo=UTC),  # a year of one digit: padded
]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/values.db")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_an_instant_is_written_as_sqlalchemy_writes_it_and_read_back(engine: AsyncEngine) -> None:
    async with write_transaction(engine) as conn:
        await conn.execute(instants.insert(), [{"n": n, "at": value} for n, value in enumerate(VALUES)])
        stored = await sqlite_driver(conn).execute_fetchall("SELECT at FROM instants ORDER BY n")
        await sqlite_driver(conn).executemany(
            "INSERT INTO instants (n, at) VALUES (?, ?)", [(100 + n, sqlite_instant(v)) for n, v in enumerate(VALUES)]
        )
        mine = await conn.execute(select(instants.c.at).where(instants.c.n >= 100).order_by(instants.c.n))
    assert [text for (text,) in stored] == [sqlite_instant(value) for value in VALUES]
    assert [from_sqlite_instant(text) for (text,) in stored] == VALUES
    assert list(mine.scalars()) == VALUES  # what SQLAlchemy reads back from the driver's writes


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_instant(datetime(2021, 1, 1))
