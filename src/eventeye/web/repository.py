"""All SQL of the web module."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.storage.bulk import insert_columns_ignore
from eventeye.core.storage.driver import in_transaction, sqlite_driver
from eventeye.core.storage.types import sqlite_instant
from eventeye.web.tables import web_events

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class WebEvent:
    id: uuid.UUID
    session_id: str
    category: str
    name: str
    occurred_at: datetime
    received_at: datetime
    app: str
    known_type: bool
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventFilter:
    session_id: str | None = None
    category: str | None = None
    name: str | None = None
    app: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _event(row: Any) -> WebEvent:
    return WebEvent(
        id=row.id,
        session_id=row.session_id,
        category=row.category,
        name=row.name,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        app=row.app,
        known_type=row.known_type,
        data=row.data,
    )


async def insert_events(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert events, skipping ids already stored; returns the ids that were new."""
    return await insert_columns_ignore(conn, web_events, {name: [row[name] for row in rows] for name in _EVENT_COLUMNS})


async def upsert_sessions(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    """Fold (session_id, first_seen, last_seen, event_count) rows into the sessions projection."""
    if not rows:
        return
    # Sorted so that concurrent workers lock sessions in the same order.
    rows = sorted(rows, key=lambda row: row["session_id"])
    if conn.dialect.name == "postgresql":
        columns = [[row[name] for row in rows] for name in _SESSION_COLUMNS]
        await (await in_transaction(conn)).execute(_UPSERT_SESSIONS, *columns)
        return
    values = [
        (row["session_id"], sqlite_instant(row["first_seen"]), sqlite_instant(row["last_seen"]), row["event_count"])
        for row in rows
    ]
    await sqlite_driver(conn).executemany(_UPSERT_SESSIONS_SQLITE, values)


_EVENT_COLUMNS = ("id", "session_id", "category", "name", "occurred_at", "received_at", "app", "known_type", "data")

# The sessions projection, on the batch's connection through the driver (SQLAlchemy's per-row work cost
# more than the write). PostgreSQL: each column one array, one statement text whatever the batch size;
# SQLite: values in the forms SQLAlchemy stores.
_SESSION_COLUMNS = ("session_id", "first_seen", "last_seen", "event_count")
_UPSERT_SESSIONS = """
    INSERT INTO web_sessions (session_id, first_seen, last_seen, event_count)
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::integer[])
    ON CONFLICT (session_id) DO UPDATE SET
        first_seen = least(web_sessions.first_seen, excluded.first_seen),
        last_seen = greatest(web_sessions.last_seen, excluded.last_seen),
        event_count = web_sessions.event_count + excluded.event_count
"""
_UPSERT_SESSIONS_SQLITE = """
    INSERT INTO web_sessions (session_id, first_seen, last_seen, event_count) VALUES (?, ?, ?, ?)
    ON CONFLICT (session_id) DO UPDATE SET
        first_seen = min(web_sessions.first_seen, excluded.first_seen),
        last_seen = max(web_sessions.last_seen, excluded.last_seen),
        event_count = web_sessions.event_count + excluded.event_count
"""


def _conditions(where: EventFilter) -> list[ColumnElement[bool]]:
    pairs = (
        (web_events.c.session_id, where.session_id),
        (web_events.c.category, where.category),
        (web_events.c.name, where.name),
        (web_events.c.app, where.app),
    )
    conditions: list[ColumnElement[bool]] = [column == value for column, value in pairs if value is not None]
    if where.start is not None:
        conditions.append(web_events.c.occurred_at >= where.start)
    if where.end is not None:
        conditions.append(web_events.c.occurred_at < where.end)
    return conditions


def _after(order: Order, after: tuple[datetime, uuid.UUID]) -> ColumnElement[bool]:
    at, last_id = after
    column, ids = web_events.c.occurred_at, web_events.c.id
    if order == "asc":
        return or_(column > at, and_(column == at, ids > last_id))
    return or_(column < at, and_(column == at, ids < last_id))


async def list_events(
    conn: AsyncConnection,
    *,
    where: EventFilter,
    order: Order,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[WebEvent]:
    """Events matching ``where``, keyset-paginated on (occurred_at, id)."""
    conditions = _conditions(where)
    if after is not None:
        conditions.append(_after(order, after))
    ordering = (
        (web_events.c.occurred_at.asc(), web_events.c.id.asc())
        if order == "asc"
        else (web_events.c.occurred_at.desc(), web_events.c.id.desc())
    )
    statement = select(web_events).where(*conditions).order_by(*ordering).limit(limit)
    return [_event(row) for row in await conn.execute(statement)]


GroupBy = Literal["category", "name", "app", "type"]


async def count_events(
    conn: AsyncConnection, *, group_by: GroupBy, start: datetime | None, end: datetime | None
) -> list[tuple[str, int]]:
    """Event counts per group, largest first."""
    if group_by == "type":
        key: ColumnElement[str] = web_events.c.category + literal("/") + web_events.c.name
        groups: tuple[Any, ...] = (web_events.c.category, web_events.c.name)
    else:
        key = web_events.c[group_by]
        groups = (web_events.c[group_by],)
    count = func.count().label("n")
    statement = (
        select(key.label("key"), count)
        .where(*_conditions(EventFilter(start=start, end=end)))
        .group_by(*groups)
        .order_by(count.desc(), key)
    )
    return [(str(row.key), int(row.n)) for row in await conn.execute(statement)]


async def count_unknown_types(conn: AsyncConnection, *, start: datetime | None, end: datetime | None) -> int:
    conditions = [*_conditions(EventFilter(start=start, end=end)), web_events.c.known_type.is_(False)]
    return int((await conn.execute(select(func.count()).where(*conditions))).scalar_one())
