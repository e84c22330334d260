"""All SQL of the criticality module. Callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, case, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.storage.driver import DriverPool, DriverStatement
from eventeye.core.storage.types import UTCDateTime
from eventeye.criticality.tables import changes, consumers


@dataclass(frozen=True, slots=True)
class State:
    """A criticality state as consumers are told it."""

    id: int
    current_status: int
    change_at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    app_name: str
    current_status: int
    change_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Consumer:
    app_name: str
    first_poll_at: datetime
    last_poll_at: datetime
    polls: int
    notified: State | None
    notified_at: datetime | None


# The hot statements are built once, with named parameters: building a Core
# statement costs more than running a cached one.
_APP = bindparam("p_app_name", type_=String())
_AT = bindparam("p_at", type_=UTCDateTime())

_INSERT_CHANGE = insert(changes).returning(changes.c.id)
_CHANGE_FIELDS = ("app_name", "current_status", "change_at", "received_at")
_INSERT_CHANGE_ON_DRIVER = DriverStatement(
    insert(changes).values({name: bindparam(name) for name in _CHANGE_FIELDS}).returning(changes.c.id)
)

_LATEST = (
    select(changes.c.id, changes.c.current_status, changes.c.change_at)
    .order_by(changes.c.change_at.desc(), changes.c.id.desc())
    .limit(1)
    .subquery("latest")
)

_CLAIM = (
    update(consumers)
    .where(
        consumers.c.app_name == _APP,
        or_(
            consumers.c.notified_id.is_(None),
            tuple_(consumers.c.notified_change_at, consumers.c.notified_id) < tuple_(_LATEST.c.change_at, _LATEST.c.id),
        ),
    )
    .values(
        notified_id=_LATEST.c.id,
        notified_status=_LATEST.c.current_status,
        notified_change_at=_LATEST.c.change_at,
        notified_at=_AT,
    )
    .returning(consumers.c.notified_id, consumers.c.notified_status, consumers.c.notified_change_at)
)
_CLAIM_ON_DRIVER = DriverStatement(_CLAIM)


async def create_change(conn: AsyncConnection | DriverPool, *, values: dict[str, Any]) -> int:
    """Store a change (``app_name``, ``current_status``, ``change_at``, ``received_at``); returns its id.

    The id comes from the database's identity, so it is unique across processes.
    """
    if isinstance(conn, DriverPool):
        row = await conn.fetchrow(_INSERT_CHANGE_ON_DRIVER, values)
        assert row is not None  # INSERT ... RETURNING gives its row
        return int(row[0])
    return int((await conn.execute(_INSERT_CHANGE, values)).scalar_one())


async def get_latest(conn: AsyncConnection) -> State | None:
    """The latest state: greatest ``change_at``, ties broken by the later id."""
    row = (await conn.execute(select(_LATEST))).first()
    return State(id=row.id, current_status=row.current_status, change_at=row.change_at) if row else None


async def ensure_consumer(conn: AsyncConnection, *, app_name: str, at: datetime) -> None:
    """Create the consumer's row if it has none yet (its polls are counted by ``record_polls``)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(consumers)
        .values(app_name=app_name, first_poll_at=at, last_poll_at=at, polls=0)
        .on_conflict_do_nothing(index_elements=[consumers.c.app_name])
    )
    await conn.execute(statement)


@dataclass(frozen=True, slots=True)
class Polls:
    """One app's polls in a round: how many, the first and the last."""

    app_name: str
    count: int
    first_at: datetime
    last_at: datetime


async def record_polls(conn: AsyncConnection, polls: list[Polls]) -> None:
    """Add ``polls`` to the consumers (created on their first poll), one statement for all.

    Rows are written sorted by app, so that concurrent writers lock them in the
    same order; the first poll time only moves back and the last only forward.
    """
    if not polls:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(consumers)
    new = statement.excluded
    current = consumers.c
    # A claim may have created the row (at a later poll) before this round of earlier polls.
    earlier = case((new.first_poll_at < current.first_poll_at, new.first_poll_at), else_=current.first_poll_at)
    later = case((new.last_poll_at > current.last_poll_at, new.last_poll_at), else_=current.last_poll_at)
    statement = statement.on_conflict_do_update(
        index_elements=[current.app_name],
        set_={"first_poll_at": earlier, "last_poll_at": later, "polls": current.polls + new.polls},
    )
    rows = [
        {"app_name": p.app_name, "first_poll_at": p.first_at, "last_poll_at": p.last_at, "polls": p.count}
        for p in sorted(polls, key=lambda p: p.app_name)
    ]
    await conn.execute(statement, rows)


async def claim_latest(conn: AsyncConnection | DriverPool, *, app_name: str, at: datetime) -> State | None:
    """Mark the latest state as given to ``app_name`` if it is newer than what it was given.

    One conditional UPDATE: the row it changes (at most one) decides that this
    caller tells the app; a concurrent caller finds the mark already set and
    changes nothing. Comparing (change_at, id) means an older state never
    replaces a newer one, whatever order concurrent statements run in.
    """
    values = {"p_app_name": app_name, "p_at": at}
    if isinstance(conn, DriverPool):
        row: Any = await conn.fetchrow(_CLAIM_ON_DRIVER, values)
    else:
        row = (await conn.execute(_CLAIM, values)).first()
    if row is None:
        return None
    return State(id=row[0], current_status=row[1], change_at=row[2])


async def list_changes(conn: AsyncConnection, *, before: int | None, producer: str | None, limit: int) -> list[Change]:
    """Changes newest-received first, with ids below ``before``."""
    statement = select(changes).order_by(changes.c.id.desc()).limit(limit)
    if before is not None:
        statement = statement.where(changes.c.id < before)
    if producer is not None:
        statement = statement.where(changes.c.app_name == producer)
    rows = (await conn.execute(statement)).all()
    return [
        Change(
            id=row.id,
            app_name=row.app_name,
            current_status=row.current_status,
            change_at=row.change_at,
            received_at=row.received_at,
        )
        for row in rows
    ]


def _consumer(row: Any) -> Consumer:
    notified = None
    if row.notified_id is not None:
        notified = State(id=row.notified_id, current_status=row.notified_status, change_at=row.notified_change_at)
    return Consumer(
        app_name=row.app_name,
        first_poll_at=row.first_poll_at,
        last_poll_at=row.last_poll_at,
        polls=row.polls,
        notified=notified,
        notified_at=row.notified_at,
    )


async def list_consumers(conn: AsyncConnection, *, after: str | None, limit: int) -> list[Consumer]:
    """Consumers by name, with names after ``after``."""
    statement = select(consumers).order_by(consumers.c.app_name).limit(limit)
    if after is not None:
        statement = statement.where(consumers.c.app_name > after)
    return [_consumer(row) for row in (await conn.execute(statement)).all()]


async def get_consumer(conn: AsyncConnection, *, app_name: str) -> Consumer | None:
    row = (await conn.execute(select(consumers).where(consumers.c.app_name == app_name))).first()
    return _consumer(row) if row else None
