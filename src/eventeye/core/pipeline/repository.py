"""All SQL of the pipeline: the inbox, the errors table and run-time schemas."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.pipeline.envelope import Envelope, Rejection, new_event_id
from eventeye.core.storage.dialects import upsert
from eventeye.core.storage.driver import DriverPool, in_transaction, sqlite_driver
from eventeye.core.storage.tables import errors, event_schemas, inbox
from eventeye.core.storage.tables import inbox_progress as inbox_progress_table
from eventeye.core.storage.types import from_sqlite_instant


async def append_inbox(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(inbox.insert(), rows)


async def append_inbox_on_driver(driver: DriverPool, envelopes: Sequence[Envelope]) -> None:
    """PostgreSQL: one autocommitted statement, the rows as one array per column (one round trip)."""
    if envelopes:
        columns = zip(*((e.id, e.module, e.type, e.source, e.received_at, e.body) for e in envelopes), strict=True)
        await driver.execute(_APPEND, *(list(column) for column in columns))


# Rows keep the arrays' order, so ``seq`` follows the order the requests came in.
_APPEND = """
    INSERT INTO inbox (id, module, type, source, received_at, body)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bytea[])
"""


async def vacuum_inbox(driver: DriverPool) -> None:
    """PostgreSQL: clear the inbox's dead rows (none if another vacuum of it is running).

    Without giving empty pages at the end of the file back: that takes a lock
    the inbox's writers and readers would wait on, and appends reuse the space.
    """
    await driver.execute("VACUUM (SKIP_LOCKED, TRUNCATE false) inbox")


async def claim_inbox(conn: AsyncConnection, *, limit: int) -> list[tuple[int, Envelope]]:
    """The oldest ``limit`` inbox entries; on PostgreSQL locked so that other workers skip them."""
    if conn.dialect.name == "postgresql":
        records = await (await in_transaction(conn)).fetch(_CLAIM, limit)
        # The driver's own UUID type is not one every encoder takes (orjson refuses it).
        return [
            (
                seq,
                Envelope(id=uuid.UUID(int=key.int), module=module, type=kind, source=source, received_at=at, body=body),
            )
            for seq, key, module, kind, source, at, body in records
        ]
    return sqlite_inbox_entries(await sqlite_driver(conn).execute_fetchall(_CLAIM_SQLITE, (limit,)))


def sqlite_inbox_entries(rows: Iterable[Any]) -> list[tuple[int, Envelope]]:
    """Inbox rows as SQLite stores them (the table, or the inbox file) as (seq, envelope) pairs.

    Rows are ``(seq, id, module, type, source, received_at, body)``: the id as
    32 hex digits, the instant as ``types.sqlite_instant`` writes it.
    """
    instants: dict[str, datetime] = {}  # one per request accepted, not per event
    entries = []
    for seq, key, module, kind, source, at, body in rows:
        received_at = instants.get(at)
        if received_at is None:
            received_at = instants[at] = from_sqlite_instant(at)
        envelope = Envelope(
            id=uuid.UUID(key), module=module, type=kind, source=source, received_at=received_at, body=body
        )
        entries.append((seq, envelope))
    return entries


async def delete_inbox(conn: AsyncConnection, *, seqs: Sequence[int]) -> None:
    if not seqs:
        return
    if conn.dialect.name == "postgresql":
        await (await in_transaction(conn)).execute(_DELETE, list(seqs))
        return
    # SQLite runs one writer at a time, so a claimed batch is always the oldest contiguous run.
    await conn.execute(delete(inbox).where(inbox.c.seq.between(min(seqs), max(seqs))))


# PostgreSQL: run on the batch's own connection through the driver (once per batch each; SQLAlchemy's
# result and parameter processing cost more than the statements).
_CLAIM = """
    SELECT seq, id, module, type, source, received_at, body FROM inbox
    ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
"""
_DELETE = "DELETE FROM inbox WHERE seq = ANY($1::bigint[])"
# SQLite: on its driver too (SQLAlchemy's result processing of every UUID and instant cost more than the read).
_CLAIM_SQLITE = "SELECT seq, id, module, type, source, received_at, body FROM inbox ORDER BY seq LIMIT ?"


async def inbox_progress(conn: AsyncConnection, *, inbox: str) -> int:
    """The last entry of inbox file ``inbox`` that has been processed (0: none yet)."""
    statement = select(inbox_progress_table.c.seq).where(inbox_progress_table.c.inbox == inbox)
    return int((await conn.execute(statement)).scalar_one_or_none() or 0)


async def save_inbox_progress(conn: AsyncConnection, *, inbox: str, seq: int) -> None:
    statement = upsert(conn, inbox_progress_table, conflict=["inbox"])
    await conn.execute(statement.values(inbox=inbox, seq=seq))


async def inbox_backlog(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(inbox))).scalar_one())


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; what was refused may well contain one.
    return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


def rejection_row(rejection: Rejection, created_at: datetime) -> dict[str, Any]:
    return {
        "id": new_event_id(),
        "kind": rejection.kind,
        "module": rejection.module,
        "type": _text(rejection.type),
        "source": _text(rejection.source),
        "event_id": rejection.event_id,
        "field": _text(rejection.field),
        "reason": _text(rejection.reason),
        "raw": _text(rejection.raw),
        "received_at": rejection.received_at,
        "created_at": created_at,
    }


async def insert_errors(conn: AsyncConnection, *, rejections: Sequence[Rejection], at: datetime) -> None:
    if rejections:
        await conn.execute(errors.insert(), [rejection_row(r, at) for r in rejections])


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    id: uuid.UUID
    kind: str
    module: str
    type: str | None
    source: str | None
    event_id: uuid.UUID | None
    field: str | None
    reason: str
    raw: str | None
    received_at: datetime | None
    created_at: datetime


def _error(row: Any) -> ErrorRecord:
    return ErrorRecord(**{name: getattr(row, name) for name in ErrorRecord.__slots__})


@dataclass(frozen=True, slots=True)
class ErrorFilter:
    kind: str | None = None
    module: str | None = None
    source: str | None = None
    start: datetime | None = None
    end: datetime | None = None


async def list_errors(
    conn: AsyncConnection, *, where: ErrorFilter, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[ErrorRecord]:
    """Errors newest first, keyset-paginated on (created_at, id)."""
    conditions = [
        column == value
        for column, value in (
            (errors.c.kind, where.kind),
            (errors.c.module, where.module),
            (errors.c.source, where.source),
        )
        if value is not None
    ]
    if where.start is not None:
        conditions.append(errors.c.created_at >= where.start)
    if where.end is not None:
        conditions.append(errors.c.created_at < where.end)
    if after is not None:
        at, last_id = after
        conditions.append(or_(errors.c.created_at < at, and_(errors.c.created_at == at, errors.c.id < last_id)))
    statement = select(errors).where(*conditions).order_by(errors.c.created_at.desc(), errors.c.id.desc()).limit(limit)
    return [_error(row) for row in await conn.execute(statement)]


async def get_error(conn: AsyncConnection, *, error_id: uuid.UUID) -> ErrorRecord | None:
    row = (await conn.execute(select(errors).where(errors.c.id == error_id))).first()
    return _error(row) if row else None


async def count_errors(
    conn: AsyncConnection, *, module: str, start: datetime | None, end: datetime | None
) -> dict[str, int]:
    """Error counts by kind for a module and time range."""
    conditions = [errors.c.module == module]
    if start is not None:
        conditions.append(errors.c.created_at >= start)
    if end is not None:
        conditions.append(errors.c.created_at < end)
    statement = select(errors.c.kind, func.count()).where(*conditions).group_by(errors.c.kind)
    rows: Any = await conn.execute(statement)
    return {str(kind): int(count) for kind, count in rows}


async def list_schemas(conn: AsyncConnection) -> list[tuple[str, str, dict[str, Any], datetime]]:
    rows = await conn.execute(select(event_schemas).order_by(event_schemas.c.module, event_schemas.c.type))
    return [(row.module, row.type, row.schema, row.updated_at) for row in rows]


async def save_schema(conn: AsyncConnection, *, module: str, type: str, schema: dict[str, Any], at: datetime) -> None:
    statement = upsert(conn, event_schemas, conflict=["module", "type"])
    await conn.execute(statement.values(module=module, type=type, schema=schema, updated_at=at))


async def delete_schema(conn: AsyncConnection, *, module: str, type: str) -> bool:
    result = await conn.execute(
        delete(event_schemas).where(event_schemas.c.module == module, event_schemas.c.type == type)
    )
    return bool(result.rowcount)


async def latest_schema_change(conn: AsyncConnection) -> tuple[int, datetime | None]:
    row = (await conn.execute(select(func.count(), func.max(event_schemas.c.updated_at)))).one()
    return int(row[0]), row[1]
