"""All SQL of the vehicles module."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.storage.bulk import insert_columns_ignore
from eventeye.core.storage.dialects import upsert
from eventeye.vehicles.tables import vehicles_detections, vehicles_make_counts


@dataclass(frozen=True, slots=True)
class Detection:
    id: uuid.UUID
    indexed_at: datetime
    year: int
    make: str
    model: str
    category: str


@dataclass(frozen=True, slots=True)
class Columns:
    """Detections to store, column by column (one entry per detection in each)."""

    ids: list[uuid.UUID]
    years: list[int]
    makes: list[str]
    models: list[str]
    categories: list[str]


async def insert_detections(conn: AsyncConnection, *, columns: Columns, indexed_at: datetime) -> set[uuid.UUID]:
    """Store detections, skipping ids already stored; returns the ids that were new."""
    return await insert_columns_ignore(
        conn,
        vehicles_detections,
        {
            "id": columns.ids,
            "year": columns.years,
            "make": columns.makes,
            "model": columns.models,
            "category": columns.categories,
        },
        constants={"indexed_at": indexed_at},
    )


async def add_make_counts(conn: AsyncConnection, *, counts: Mapping[str, int], shard: int) -> None:
    """Add ``counts`` (new detections per make) to the running totals, in ``shard``."""
    if not counts:
        return
    current = vehicles_make_counts.c
    statement = upsert(
        conn,
        vehicles_make_counts,
        conflict=["make", "shard"],
        update=lambda new: {"detections": current.detections + new.detections},
    )
    # Sorted so that concurrent workers lock the same rows in the same order.
    rows = [{"make": make, "shard": shard, "detections": counts[make]} for make in sorted(counts)]
    await conn.execute(statement, rows)


async def count_detections(conn: AsyncConnection) -> int:
    total: Any = (
        await conn.execute(select(func.coalesce(func.sum(vehicles_make_counts.c.detections), 0)))
    ).scalar_one()
    return int(total)


async def list_detections(conn: AsyncConnection, *, skip: int, limit: int) -> list[Detection]:
    """Detections newest first (latest indexed, then by id), ``skip`` then ``limit``."""
    table = vehicles_detections
    statement = (
        select(table.c.id, table.c.indexed_at, table.c.year, table.c.make, table.c.model, table.c.category)
        .order_by(table.c.indexed_at.desc(), table.c.id.desc())
        .offset(skip)
        .limit(limit)
    )
    rows: Any = await conn.execute(statement)
    return [Detection(*row) for row in rows]


async def count_by_make(
    conn: AsyncConnection, *, start: datetime | None, end: datetime | None
) -> list[tuple[str, int]]:
    """Detections per make, most first (ties by make); indexed in ``[start, end)`` when given."""
    if start is None and end is None:
        counts = vehicles_make_counts.c
        total = func.sum(counts.detections).label("n")
        statement: Any = select(counts.make, total).group_by(counts.make).having(total > 0)
        statement = statement.order_by(total.desc(), counts.make)
    else:
        table = vehicles_detections.c
        conditions: list[ColumnElement[bool]] = []
        if start is not None:
            conditions.append(table.indexed_at >= start)
        if end is not None:
            conditions.append(table.indexed_at < end)
        count = func.count().label("n")
        statement = select(table.make, count).where(*conditions).group_by(table.make).order_by(count.desc(), table.make)
    rows: Any = await conn.execute(statement)
    return [(str(make), int(n)) for make, n in rows]
