"""Helpers for the activity tests: storing detections one by one or in bulk, reading periods and flags back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.activity import bulk, periods
from eventeye.activity import service as activity_service
from eventeye.activity.schemas import GROUP_OF_KIND, KIND_OF
from eventeye.activity.tables import activity_detections
from eventeye.core.pipeline.envelope import new_event_id
from eventeye.core.storage.engine import read_transaction, write_transaction

DAY = datetime(2024, 5, 1, tzinfo=UTC)


def at(clock: str) -> datetime:
    """``"18:30:30"`` (optionally with fractions) on the test day."""
    return datetime.fromisoformat(f"2024-05-01T{clock}+00:00")


def us(clock: str) -> int:
    return periods.to_micros(at(clock))


def detection(time_us: int, type: str, camera_id: str = "default") -> tuple[str, int, int, int]:
    kind = KIND_OF[type]
    return (camera_id, time_us, kind, GROUP_OF_KIND[kind])


async def store_one_by_one(engine: AsyncEngine, rows: Iterable[tuple[str, int, int, int]]) -> None:
    """Each detection in its own transaction, as the real-time path stores them."""
    for row in rows:
        async with write_transaction(engine) as conn:
            await activity_service.store(conn, periods.flag([row]), ids=[new_event_id()])


async def store_bulk(engine: AsyncEngine, rows: Sequence[tuple[str, int, int, int]]) -> None:
    """All detections as one bulk chunk (sorted by time, as the loader does)."""
    async with write_transaction(engine) as conn:
        await activity_service.store(conn, periods.flag(sorted(rows, key=lambda row: row[1])), ids=None)


async def load_events(engine: AsyncEngine, events: Iterable[object], *, chunk_size: int = 1000) -> bulk.LoadReport:
    reader = bulk.iterable_reader(events, bulk.latest_allowed(timedelta(minutes=5)))
    return await bulk.load(engine, reader, chunk_size=chunk_size)


async def find(engine: AsyncEngine, **query: Any) -> periods.PeriodsByGroup:
    async with read_transaction(engine) as conn:
        return await activity_service.find_periods(conn, **query)


async def stored_flags(engine: AsyncEngine) -> list[tuple[str, int, int, bool, bool]]:
    c = activity_detections.c
    async with read_transaction(engine) as conn:
        rows = await conn.execute(select(c.camera_id, c.grp, c.time_us, c.starts, c.ends))
        return sorted((r.camera_id, r.grp, r.time_us, bool(r.starts), bool(r.ends)) for r in rows)


async def clear(engine: AsyncEngine) -> None:
    async with write_transaction(engine) as conn:
        await conn.execute(delete(activity_detections))
