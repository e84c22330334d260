"""All SQL of the activity module: storing detections, keeping period boundaries, finding periods."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    ScalarSelect,
    Select,
    SmallInteger,
    String,
    Subquery,
    Update,
    bindparam,
    case,
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
from eventeye.activity.tables import EDGE
from eventeye.activity.tables import activity_detections as detections

COLUMNS = ("camera_id", "time_us", "kind", "grp", "starts", "ends")
GROUP_IDS = (0, 1)
LOCK_NAMESPACE = 0x61637476  # "actv": this module's advisory locks on PostgreSQL

# One statement per dialect for the bulk path (asyncpg COPY needs none).
_SQLITE_INSERT = f"INSERT INTO activity_detections ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


# Statements are built once (with bind parameters) where the same ones run on every call: building
# and keying a statement costs more than running it on the real-time path.
_LOCK = text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:camera))")
LATEST_PER_STATEMENT = 100


async def lock_cameras(conn: AsyncConnection, *, cameras: Iterable[str]) -> None:
    """Serialise writers of the same cameras until the transaction ends (SQLite has one writer anyway)."""
    if conn.dialect.name != "postgresql":
        return
    for camera in sorted(set(cameras)):  # a fixed order: no deadlocks between writers
        await conn.execute(_LOCK, {"namespace": LOCK_NAMESPACE, "camera": camera})


@lru_cache(maxsize=LATEST_PER_STATEMENT)
def _latest_statement(count: int) -> CompoundSelect[Any]:
    """The latest time of ``count`` keys (``camera_<i>``, ``group_<i>``): one index probe each."""
    column = detections.c
    selects = []
    for index in range(count):
        camera, group = bindparam(f"camera_{index}", type_=String), bindparam(f"group_{index}", type_=SmallInteger)
        latest = select(column.time_us).where(column.camera_id == camera, column.grp == group)
        latest = latest.order_by(column.time_us.desc()).limit(1)
        selects.append(select(camera.label("camera_id"), group.label("grp"), latest.scalar_subquery().label("time_us")))
    return union_all(*selects)


async def latest_times(conn: AsyncConnection, *, keys: Iterable[Key]) -> dict[Key, int]:
    """The latest stored time of each (camera, group), for those that have one."""
    ordered = sorted(set(keys))
    latest: dict[Key, int] = {}
    for start in range(0, len(ordered), LATEST_PER_STATEMENT):
        part = ordered[start : start + LATEST_PER_STATEMENT]
        params = {
            f"{name}_{index}": value
            for index, key in enumerate(part)
            for name, value in zip(("camera", "group"), key, strict=True)
        }
        rows = await conn.execute(_latest_statement(len(part)), params)
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


def _settle_statement() -> Update:
    column = detections.c
    gap = bindparam("gap", type_=BigInteger)
    return (
        update(detections)
        .where(
            column.camera_id == bindparam("b_camera"),
            column.grp == bindparam("b_group"),
            column.time_us.between(bindparam("b_low"), bindparam("b_high")),
            EDGE,
        )
        .values(
            starts=~_neighbour(column.time_us - gap, column.time_us),
            ends=~_neighbour(column.time_us, column.time_us + gap),
        )
    )


_SETTLE = _settle_statement()


async def settle(conn: AsyncConnection, *, ranges: Sequence[SettleRange], gap: int) -> None:
    """Re-check the boundary flags of the flagged rows in ``ranges`` against their stored neighbours."""
    if ranges:
        params = [
            {"b_camera": r.camera_id, "b_group": r.group, "b_low": r.low, "b_high": r.high, "gap": gap} for r in ranges
        ]
        await conn.execute(_SETTLE, params)


def _in_range(bounded_start: bool, bounded_end: bool) -> list[ColumnElement[bool]]:
    conditions = [detections.c.camera_id == bindparam("camera_id", type_=String)]
    if bounded_start:
        conditions.append(detections.c.time_us >= bindparam("start_us", type_=BigInteger))
    if bounded_end:
        conditions.append(detections.c.time_us < bindparam("end_us", type_=BigInteger))
    return conditions


def _first(
    where: list[ColumnElement[bool]], group: int, *, last: bool = False, edge: bool = False
) -> ScalarSelect[int]:
    """The first (or last) time of ``group`` in range, of a boundary if ``edge``: one index probe."""
    column = detections.c
    conditions = [*where, column.grp == group, *([EDGE] if edge else [])]
    order = column.time_us.desc() if last else column.time_us.asc()
    return select(column.time_us).where(*conditions).order_by(order).limit(1).scalar_subquery()


def _stored_edges(where: list[ColumnElement[bool]]) -> Subquery:
    """The boundaries kept at ingestion, one row per (group, time), in index order."""
    column = detections.c
    flagged = select(column.grp, column.time_us, column.starts, column.ends).where(*where, EDGE)
    return flagged.distinct().subquery("edges")


def _computed_edges(where: list[ColumnElement[bool]]) -> Subquery:
    """Boundaries for any gap: LAG / LEAD over the distinct times in range (ties are one instant)."""
    times = select(detections.c.grp, detections.c.time_us).where(*where).distinct().subquery("times")
    previous = func.lag(times.c.time_us, type_=BigInteger).over(partition_by=times.c.grp, order_by=times.c.time_us)
    following = func.lead(times.c.time_us, type_=BigInteger).over(partition_by=times.c.grp, order_by=times.c.time_us)
    limit = bindparam("gap_us", type_=BigInteger)
    marked = select(
        times.c.grp,
        times.c.time_us,
        or_(previous.is_(None), times.c.time_us - previous >= limit).label("starts"),
        or_(following.is_(None), following - times.c.time_us >= limit).label("ends"),
    ).subquery("marked")
    return select(marked).where(or_(marked.c.starts, marked.c.ends)).subquery("edges")


def _neighbours(edges: Subquery) -> Subquery:
    """Each boundary with the times of the boundaries before and after it in its group."""
    before = func.lag(edges.c.time_us, type_=BigInteger).over(partition_by=edges.c.grp, order_by=edges.c.time_us)
    after = func.lead(edges.c.time_us, type_=BigInteger).over(partition_by=edges.c.grp, order_by=edges.c.time_us)
    return select(edges, before.label("before"), after.label("after")).subquery("paired")


def _pair_computed(edges: Subquery) -> Select[Any]:
    """A period from each start to itself (a lone detection) or to the next boundary, its end."""
    paired = _neighbours(edges)
    end = case((paired.c.ends, paired.c.time_us), else_=paired.c.after)
    return select(paired.c.grp, paired.c.time_us.label("start_us"), end.label("end_us")).where(paired.c.starts)


def _pair_stored(edges: Subquery, where: list[ColumnElement[bool]]) -> CompoundSelect[Any]:
    """As ``_pair_computed``, with the periods the range cuts: those run from / to the first / last time in range."""
    paired = _neighbours(edges)
    first = {group: _first(where, group) for group in GROUP_IDS}
    last = {group: _first(where, group, last=True) for group in GROUP_IDS}
    start = case((paired.c.starts, paired.c.time_us), else_=case((paired.c.grp == 0, first[0]), else_=first[1]))
    cut_end = func.coalesce(paired.c.after, case((paired.c.grp == 0, last[0]), else_=last[1]))
    periods = select(
        paired.c.grp, start.label("start_us"), case((paired.c.ends, paired.c.time_us), else_=cut_end).label("end_us")
    ).where(or_(paired.c.starts, paired.c.before.is_(None)))
    whole = [  # a group with detections in range but no boundary there: the range lies inside one period
        select(literal(group, SmallInteger), first[group], last[group]).where(
            first[group].is_not(None), _first(where, group, edge=True).is_(None)
        )
        for group in GROUP_IDS
    ]
    return union_all(periods, *whole)


@lru_cache(maxsize=8)
def _periods_statement(stored: bool, bounded_start: bool, bounded_end: bool) -> Select[Any] | CompoundSelect[Any]:
    where = _in_range(bounded_start, bounded_end)
    if stored:
        return _pair_stored(_stored_edges(where), where)
    return _pair_computed(_computed_edges(where))


def periods_statement(
    *, camera_id: str, start: int | None, end: int | None, gap: int, stored: bool
) -> tuple[Select[Any] | CompoundSelect[Any], dict[str, Any]]:
    """The one query that finds the periods, ``(grp, start_us, end_us)`` in no particular order, and its parameters.

    ``stored`` reads the boundaries kept at ingestion (the default gap); the
    others are computed. Either way only boundaries reach the pairing step.
    """
    params: dict[str, Any] = {"camera_id": camera_id, "start_us": start, "end_us": end}
    if not stored:
        params["gap_us"] = gap
    statement = _periods_statement(stored, start is not None, end is not None)
    return statement, {name: value for name, value in params.items() if value is not None}


async def find_periods(
    conn: AsyncConnection, *, camera_id: str, start: int | None, end: int | None, gap: int, stored: bool
) -> list[tuple[int, int, int]]:
    """``(group, start_us, end_us)`` of every period of ``camera_id`` within ``[start, end)``, in time order."""
    statement, params = periods_statement(camera_id=camera_id, start=start, end=end, gap=gap, stored=stored)
    result: Any = await conn.execute(statement, params)
    rows: list[tuple[int, int, int]] = list(result)  # rows unpack like tuples
    rows.sort()  # nearly in order already: linear
    return rows


async def vacuum_analyze(conn: AsyncConnection) -> None:
    """After a large load on PostgreSQL (``conn`` in autocommit): mark the new pages all-visible, so that
    periods are read from the indexes alone, and refresh the planner's statistics. SQLite needs neither."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"VACUUM (ANALYZE) {detections.name}"))
