"""Column-wise bulk inserts: new keys returned, existing ones skipped, any text value kept as it was."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.storage.bulk import insert_columns_ignore
from eventeye.core.storage.engine import write_transaction
from eventeye.core.storage.types import UTCDateTime

scratch = MetaData()
things = Table(
    "bulk_things",
    scratch,
    Column("id", Uuid, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("size", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SEPARATOR = "\x1f"  # a control character that text columns may hold too


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    async with engine.begin() as conn:
        await conn.run_sync(scratch.create_all)
    yield things
    async with engine.begin() as conn:
        await conn.run_sync(scratch.drop_all)


async def insert(engine: AsyncEngine, ids: list[uuid.UUID], names: list[str]) -> set[uuid.UUID]:
    async with write_transaction(engine) as conn:
        return await insert_columns_ignore(
            conn, things, {"id": ids, "name": names, "size": list(range(len(ids)))}, constants={"at": AT}
        )


async def rows(engine: AsyncEngine) -> list[tuple[uuid.UUID, str, int, datetime]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(select(things).order_by(things.c.size))]  # type: ignore[misc]


async def test_new_keys_are_returned_and_existing_ones_skipped(engine: AsyncEngine, table: Table) -> None:
    ids = [uuid.uuid4() for _ in range(4)]
    await insert(engine, ids[:2], ["a", "b"])

    new = await insert(engine, ids, ["A", "B", "c", "d"])

    assert new == set(ids[2:])
    assert [(row[0], row[1]) for row in await rows(engine)] == list(zip(ids, ["a", "b", "c", "d"], strict=True))


@pytest.mark.parametrize(
    "names",
    [["plain", "", f"with{SEPARATOR}separator", "ünïcode"], ["", ""], ["only"], [f"{SEPARATOR}", "x"]],
)
async def test_every_text_value_is_stored_as_given(engine: AsyncEngine, table: Table, names: list[str]) -> None:
    ids = [uuid.uuid4() for _ in names]

    assert await insert(engine, ids, names) == set(ids)

    assert [(row[1], row[2], row[3]) for row in await rows(engine)] == [(n, i, AT) for i, n in enumerate(names)]


async def test_columns_of_different_lengths_are_refused(engine: AsyncEngine, table: Table) -> None:
    with pytest.raises(ValueError, match="one value per row"):
        await insert(engine, [uuid.uuid4()], ["a", "b"])
