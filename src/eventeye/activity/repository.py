"""All SQL of the activity module: storing detections, keeping period boundaries, finding periods."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.activity.periods import FlaggedRow, Key, SettleRange
from eventeye.activity.tables import activity_detections as detections

COLUMNS = ("camera_id", "time_us", "kind", "grp", "starts", "ends")
GROUP_IDS = (0, 1)
LOCK_NAMESPACE = 0x61637476  # "actv": this module's advisory locks on PostgreSQL

# One statement per dialect for the bulk path (asyncpg COPY needs none).
_SQLITE_INSERT = f"INSERT INTO activity_detections ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


async def lock_cameras(conn: AsyncConnection, *, cameras: Iterable[str]) -> None:
    """Serialise writers of the same cameras until the transaction ends (SQLite has one writer anyway)."""
    if conn.dialect.name != "postgresql":
        return
    statement = text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:camera))")
    for camera in sorted(set(cameras)):  # a fixed order: no deadlocks between writers
        await conn.execute(statement, {"namespace": LOCK_NAMESPACE, "camera": camera})


async def latest_times(conn: AsyncConnection, *, keys: Iterable[Key]) -> dict[Key, int]:
    """The latest stored time of each (camera, group), for those that have one."""
    selects = [
        select(
            literal(camera).label("camera_id"),
            literal(group).label("grp"),
            select(detections.c.time_us)
            .where(detections.c.camera_id == camera, detections.c.grp == group)
            .order_by(detections.c.time_us.desc())
            .limit(1)
            .scalar_subquery()
            .label("time_us"),
        )
        for camera, group in sorted(set(keys))
    ]
    latest: dict[Key, int] = {}
    for start in range(0, len(selects), 200):
        rows = await conn.execute(union_all(*selects[start : start + 200]))
        latest.update({(row.camera_id, row.grp): row.time_us for row in rows if row.time_us is not None})
    return latest


async def stored_ids(conn: AsyncConnection, *, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` are stored already."""
    if not ids:
        return set()
    rows = await conn.execute(select(detections.c.id).where(detections.c.id.in_(ids)))
    return {row.id for row in rows}


async def insert_detections(conn: AsyncConnection, *, rows: Sequence[FlaggedRow], ids: Sequence[uuid.UUID]) -> None:
    """Insert a few detections with their event ids (the real-time path)."""
    if rows:
        values = [dict(zip(COLUMNS, row, strict=True), id=event_id) for row, event_id in zip(rows, ids, strict=True)]
        await conn.execute(detections.insert(), values)


async def copy_detections(conn: AsyncConnection, *, rows: Sequence[FlaggedRow]) -> None:
    """Bulk insert: COPY on PostgreSQL, one prepared multi-row executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        # COPY runs on the driver connection: it must already be inside this transaction.
        assert driver.is_in_transaction(), "copy_detections needs a transaction with a statement run"
        await driver.copy_records_to_table(detections.name, records=rows, columns=COLUMNS)
    else:
        await conn.exec_driver_sql(_SQLITE_INSERT, list(rows))


def _neighbour(low: ColumnElement[int], high: ColumnElement[int]) -> ColumnElement[bool]:
    """Another detection of the same camera and group strictly between ``low`` and ``high``."""
    other = detections.alias("other")
    return exists().where(
        other.c.camera_id == detections.c.camera_id,
        other.c.grp == detections.c.grp,
        other.c.time_us > low,
        other.c.time_us < high,
    )


async def settle(conn: AsyncConnection, *, ranges: Sequence[SettleRange], gap: int) -> None:
    """Re-check the boundary flags of the flagged rows in ``ranges`` against their stored neighbours."""
    if not ranges:
        return
    column = detections.c
    statement = (
        update(detections)
        .where(
            column.camera_id == bindparam("b_camera"),
            column.grp == bindparam("b_group"),
            column.time_us.between(bindparam("b_low"), bindparam("b_high")),
            or_(column.starts, column.ends),
        )
        .values(
            starts=~_neighbour(column.time_us - literal(gap, BigInteger), column.time_us),
            ends=~_neighbour(column.time_us, column.time_us + literal(gap, BigInteger)),
        )
    )
    params = [{"b_camera": r.camera_id, "b_group": r.group, "b_low": r.low, "b_high": r.high} for r in ranges]
    await conn.execute(statement, params)


def _in_range(camera_id: str, start: int | None, end: int | None) -> list[ColumnElement[bool]]:
    conditions = [detections.c.camera_id == camera_id]
    if start is not None:
        conditions.append(detections.c.time_us >= start)
    if end is not None:
        conditions.append(detections.c.time_us < end)
    return conditions


def _stored_edges(where: list[ColumnElement[bool]]) -> Select[Any]:
    """The flagged detections in range, plus each group's first and last (a period cut by the range)."""
    column = detections.c
    flagged = select(
        column.grp, column.time_us, cast(column.starts, Integer).label("s"), cast(column.ends, Integer).label("e")
    ).where(*where, or_(column.starts, column.ends))
    extremes = []
    for group in GROUP_IDS:
        for order, s, e in ((column.time_us.asc(), 1, 0), (column.time_us.desc(), 0, 1)):
            first = select(column.time_us).where(*where, column.grp == group).order_by(order).limit(1)
            extremes.append(
                select(literal(group).label("grp"), first.scalar_subquery().label("time_us"), literal(s), literal(e))
            )
    edges = union_all(flagged, *extremes).subquery("edges")
    return edges.select().where(edges.c.time_us.is_not(None))


def _computed_edges(where: list[ColumnElement[bool]], gap: int) -> Select[Any]:
    """The detections in range that start or end a period of ``gap``, found with LAG / LEAD."""
    column = detections.c
    previous = func.lag(column.time_us, type_=BigInteger).over(partition_by=column.grp, order_by=column.time_us)
    following = func.lead(column.time_us, type_=BigInteger).over(partition_by=column.grp, order_by=column.time_us)
    limit = literal(gap, BigInteger)
    marked = (
        select(
            column.grp,
            column.time_us,
            case((column.time_us - previous < limit, 0), else_=1).label("s"),
            case((following - column.time_us < limit, 0), else_=1).label("e"),
        )
        .where(*where)
        .subquery("marked")
    )
    return marked.select().where(or_(marked.c.s == 1, marked.c.e == 1))


def _pair(edges: CTE) -> Select[Any]:
    """Periods from edges: one row per (group, time), each start paired with the next end."""
    per_time = (
        select(edges.c.grp, edges.c.time_us, func.max(edges.c.s).label("s"), func.max(edges.c.e).label("e"))
        .group_by(edges.c.grp, edges.c.time_us)
        .subquery("per_time")
    )
    following = func.lead(per_time.c.time_us).over(partition_by=per_time.c.grp, order_by=per_time.c.time_us)
    paired = select(
        per_time.c.grp,
        per_time.c.s,
        per_time.c.time_us.label("start_us"),
        case((per_time.c.e == 1, per_time.c.time_us), else_=following).label("end_us"),
    ).subquery("paired")
    return (
        select(paired.c.grp, paired.c.start_us, paired.c.end_us)
        .where(paired.c.s == 1)
        .order_by(paired.c.grp, paired.c.start_us)
    )


def periods_statement(*, camera_id: str, start: int | None, end: int | None, gap: int, stored: bool) -> Select[Any]:
    """The one query that finds the periods; ``stored`` reads the boundaries kept for the default gap."""
    where = _in_range(camera_id, start, end)
    edges = (_stored_edges(where) if stored else _computed_edges(where, gap)).cte("edges_in_range")
    return _pair(edges)


async def find_periods(
    conn: AsyncConnection, *, camera_id: str, start: int | None, end: int | None, gap: int, stored: bool
) -> list[tuple[int, int, int]]:
    """``(group, start_us, end_us)`` of every period of ``camera_id`` within ``[start, end)``."""
    statement = periods_statement(camera_id=camera_id, start=start, end=end, gap=gap, stored=stored)
    return [(row.grp, row.start_us, row.end_us) for row in await conn.execute(statement)]


async def analyze(conn: AsyncConnection) -> None:
    """Refresh the planner's statistics after a large load (PostgreSQL; SQLite plans from the indexes)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"ANALYZE {detections.name}"))
