"""Every SQL statement of the plans module. Callers own the transaction."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.core.storage.stamp import FileStamp
from eventeye.plans.tables import plans, state, sync_lease, sync_runs

STATE_ROW = 1
VERSION_STAMP_SUFFIX = "-plans-version"
PLAN_FIELDS = ("title", "starts_at", "ends_at", "min_price", "max_price", "summary", "last_seen_at", "updated_at")


@dataclass(frozen=True, slots=True)
class SyncRun:
    id: uuid.UUID
    provider: str
    trigger: str
    holder: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    error: str | None
    feed_bytes: int
    new: int
    updated: int
    unchanged: int
    invalid: int
    offline: int
    issues: list[dict[str, Any]]


def _insert(conn: AsyncConnection, table: Table) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT``."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


async def search(conn: AsyncConnection, *, starts_at: datetime | None, ends_at: datetime | None) -> list[bytes]:
    """The rendered summaries of plans inside the range, by start (served by the (starts_at, ends_at) index)."""
    query = select(plans.c.summary).order_by(plans.c.starts_at, plans.c.id)
    if starts_at is not None:
        query = query.where(plans.c.starts_at >= starts_at)
    if ends_at is not None:
        # A plan never ends before it starts, so this bounds the index scan from above too.
        query = query.where(plans.c.starts_at <= ends_at, plans.c.ends_at <= ends_at)
    result = await conn.execute(query)
    return [bytes(row[0]) for row in result]


async def get_summaries(conn: AsyncConnection, *, plan_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes]:
    """The stored summary of each of ``plan_ids`` that exists."""
    if not plan_ids:
        return {}
    result = await conn.execute(select(plans.c.id, plans.c.summary).where(plans.c.id.in_(plan_ids)))
    return {row[0]: bytes(row[1]) for row in result}


async def upsert_plans(conn: AsyncConnection, *, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new plans and update changed ones, in one statement (``first_seen_at`` is kept)."""
    if not rows:
        return
    statement = _insert(conn, plans)
    statement = statement.on_conflict_do_update(
        index_elements=[plans.c.id], set_={name: statement.excluded[name] for name in PLAN_FIELDS}
    )
    await conn.execute(statement, list(rows))


async def touch_plans(conn: AsyncConnection, *, plan_ids: Sequence[uuid.UUID], seen_at: datetime) -> None:
    """Mark unchanged plans as seen now."""
    if plan_ids:
        await conn.execute(update(plans).where(plans.c.id.in_(plan_ids)).values(last_seen_at=seen_at))


async def count_plans(conn: AsyncConnection, *, provider: str | None = None) -> int:
    query = select(func.count()).select_from(plans)
    if provider is not None:
        query = query.where(plans.c.provider == provider)
    return int((await conn.execute(query)).scalar_one())


async def get_data_version(conn: AsyncConnection) -> int:
    """The catalogue's data version (0 before the first change)."""
    value = (await conn.execute(select(state.c.data_version).where(state.c.id == STATE_ROW))).scalar_one_or_none()
    return int(value or 0)


class DataVersionReader:
    """Reads the data version on one connection held for the purpose, at the driver level.

    `/search` reads the version on every request (see ``eventeye.plans.cache``),
    so this read skips the pool checkout and the result machinery, which cost
    several times the query itself. Outside a transaction, each read sees the
    latest commit. Reads must not overlap (the version gate never overlaps them).

    On a SQLite file, ``read_now`` reads right in the event loop, on a
    connection of its own that may not wait at all (``busy_timeout=0``): in WAL
    mode a reader never waits for writers, so it takes microseconds, where
    handing it to aiosqlite's thread costs tens of times that and, on a busy
    machine, makes the requests waiting for it wait for that thread to be
    scheduled. When it would have to wait (or fails) it answers None, and the
    caller awaits ``read`` instead.
    """

    STATEMENT = "SELECT data_version FROM plans_state WHERE id = 1"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._conn: AsyncConnection | None = None
        self._driver: Any = None
        database = engine.url.database
        local = engine.dialect.name == "sqlite" and database and database != ":memory:"
        self._sqlite_path = database if local else None
        self._sqlite: sqlite3.Connection | None = None

    def read_now(self) -> int | None:
        """On a SQLite file, the version read without waiting; None when that is not possible here."""
        return self._read_sqlite_now() if self._sqlite_path is not None else None

    async def read(self) -> int:
        """The version, read on the held driver connection."""
        if self._driver is None:
            self._conn = await self.engine.connect()
            self._driver = (await self._conn.get_raw_connection()).driver_connection
        try:
            if self.engine.dialect.name == "postgresql":
                value = await self._driver.fetchval(self.STATEMENT)
            else:
                async with self._driver.execute(self.STATEMENT) as cursor:
                    row = await cursor.fetchone()
                value = row[0] if row else None
        except Exception:
            await self.close()  # the next read reconnects
            raise
        return int(value or 0)

    def _read_sqlite_now(self) -> int | None:
        """The version, or None when it cannot be read without waiting."""
        try:
            if self._sqlite is None:
                self._sqlite = sqlite3.connect(self._sqlite_path or "", isolation_level=None, check_same_thread=False)
                self._sqlite.execute("PRAGMA busy_timeout=0")
                self._sqlite.execute("PRAGMA query_only=1")
            row = self._sqlite.execute(self.STATEMENT).fetchone()
        except sqlite3.Error:
            self._close_sqlite()
            return None
        return int(row[0]) if row else 0

    def _close_sqlite(self) -> None:
        connection, self._sqlite = self._sqlite, None
        if connection is not None:
            connection.close()

    async def close(self) -> None:
        self._close_sqlite()
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            await conn.invalidate()
            await conn.close()


def version_stamp(engine: AsyncEngine) -> FileStamp | None:
    """Where `/search` reads the data version without reading the database (SQLite files only)."""
    return FileStamp.beside(engine, VERSION_STAMP_SUFFIX)


async def bump_data_version(conn: AsyncConnection, *, at: datetime) -> int:
    """Increment the data version; returns the new one."""
    statement: Insert = _insert(conn, state).values(id=STATE_ROW, data_version=1, changed_at=at)
    statement = statement.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[state.c.id], set_={"data_version": state.c.data_version + 1, "changed_at": at}
    )
    await conn.execute(statement)
    return await get_data_version(conn)


async def acquire_lease(conn: AsyncConnection, *, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or extend the lease ``name`` unless another holder's is still valid."""
    statement = _insert(conn, sync_lease).values(name=name, holder=holder, expires_at=now + ttl)
    statement = statement.on_conflict_do_update(
        index_elements=[sync_lease.c.name],
        set_={"holder": holder, "expires_at": now + ttl},
        where=(sync_lease.c.holder == holder) | (sync_lease.c.expires_at <= now),
    )
    await conn.execute(statement)
    current = await conn.execute(select(sync_lease.c.holder).where(sync_lease.c.name == name))
    return bool(current.scalar_one() == holder)


async def release_lease(conn: AsyncConnection, *, name: str, holder: str, now: datetime) -> None:
    await conn.execute(
        update(sync_lease).where(sync_lease.c.name == name, sync_lease.c.holder == holder).values(expires_at=now)
    )


async def create_sync_run(conn: AsyncConnection, *, run: SyncRun) -> None:
    await conn.execute(sync_runs.insert().values(**_run_values(run)))


async def update_sync_run(conn: AsyncConnection, *, run: SyncRun) -> None:
    values = _run_values(run)
    values.pop("id")
    await conn.execute(update(sync_runs).where(sync_runs.c.id == run.id).values(**values))


async def fail_running_sync_runs(conn: AsyncConnection, *, provider: str, at: datetime, error: str) -> int:
    """Close the runs left ``running`` by a process that died; returns how many."""
    result = await conn.execute(
        update(sync_runs)
        .where(sync_runs.c.provider == provider, sync_runs.c.outcome == "running")
        .values(outcome="failed", error=error, finished_at=at)
    )
    return int(result.rowcount)


async def list_sync_runs(conn: AsyncConnection, *, limit: int, offset: int = 0) -> list[SyncRun]:
    """Sync runs, latest first."""
    query = select(sync_runs).order_by(sync_runs.c.started_at.desc(), sync_runs.c.id).limit(limit).offset(offset)
    return [SyncRun(**row._mapping) for row in await conn.execute(query)]


def _run_values(run: SyncRun) -> dict[str, Any]:
    return {name: getattr(run, name) for name in SyncRun.__dataclass_fields__}
