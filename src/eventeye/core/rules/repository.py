"""All SQL of rules: saved definitions and the state of each (group of rules, key)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.storage.dialects import built_once, upsert
from eventeye.core.storage.driver import in_transaction
from eventeye.core.storage.tables import rule_state, rules

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class SavedRule:
    """A rule written through the API: a definition, an enabled flag, or both (an override)."""

    name: str
    definition: dict[str, Any] | None
    enabled: bool | None
    created_at: datetime
    updated_at: datetime


def _saved(row: Any) -> SavedRule:
    return SavedRule(
        name=row.name,
        definition=row.definition,
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_rules(conn: AsyncConnection) -> list[SavedRule]:
    return [_saved(row) for row in await conn.execute(select(rules).order_by(rules.c.name))]


async def get_rule(conn: AsyncConnection, *, name: str) -> SavedRule | None:
    row = (await conn.execute(select(rules).where(rules.c.name == name))).first()
    return _saved(row) if row else None


async def save_rule(
    conn: AsyncConnection, *, name: str, definition: dict[str, Any] | None, enabled: bool | None, at: datetime
) -> None:
    """Create or replace the saved rule ``name``."""
    statement = upsert(
        conn,
        rules,
        conflict=["name"],
        update=lambda new: {"definition": new.definition, "enabled": new.enabled, "updated_at": new.updated_at},
    )
    await conn.execute(
        statement.values(name=name, definition=definition, enabled=enabled, created_at=at, updated_at=at)
    )


async def set_enabled(conn: AsyncConnection, *, name: str, enabled: bool, at: datetime) -> None:
    """Set the enabled flag, keeping a saved definition (or none) as it is."""
    statement = upsert(
        conn, rules, conflict=["name"], update=lambda new: {"enabled": new.enabled, "updated_at": new.updated_at}
    )
    await conn.execute(statement.values(name=name, definition=None, enabled=enabled, created_at=at, updated_at=at))


async def delete_rule(conn: AsyncConnection, *, name: str) -> bool:
    return bool((await conn.execute(delete(rules).where(rules.c.name == name))).rowcount)


async def rules_version(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """Changes whenever a saved rule is added, changed or removed."""
    row = (await conn.execute(select(func.count(), func.max(rules.c.updated_at)))).one()
    return int(row[0]), row[1]


# State


@dataclass(frozen=True, slots=True)
class StateRow:
    rule: str
    key: str
    fingerprint: str
    version: int
    data: dict[str, Any]
    due_at: datetime | None


def _state(row: Any) -> StateRow:
    return StateRow(row.rule, row.key, row.fingerprint, int(row.version), row.data, row.due_at)


async def load_states(conn: AsyncConnection, *, pairs: Collection[Pair], lock: bool = False) -> list[StateRow]:
    """The stored state of ``pairs``; with ``lock`` (PostgreSQL) row-locked in a stable order."""
    if not pairs:
        return []
    if conn.dialect.name == "postgresql":
        ordered = sorted(pairs)
        records = await (await in_transaction(conn)).fetch(
            _LOAD_LOCKED if lock else _LOAD, [rule for rule, _ in ordered], [key for _, key in ordered]
        )
        return [StateRow(row[0], row[1], row[2], int(row[3]), orjson.loads(row[4]), row[5]) for row in records]
    statement = select(rule_state).where(tuple_(rule_state.c.rule, rule_state.c.key).in_(sorted(pairs)))
    return [_state(row) for row in await conn.execute(statement)]


# PostgreSQL: the pairs as two arrays, one statement text whatever their number (prepared once), on the
# driver (a poll log's round reads 50 states: SQLAlchemy expanded and compiled the IN list each time).
_LOAD = """
    SELECT state.rule, state.key, state.fingerprint, state.version, state.data::text, state.due_at
    FROM unnest($1::text[], $2::text[]) AS wanted(rule, key)
    JOIN rule_state AS state ON state.rule = wanted.rule AND state.key = wanted.key
    ORDER BY state.rule, state.key
"""
_LOAD_LOCKED = _LOAD + " FOR UPDATE OF state"  # in a stable order: concurrent writers cannot deadlock


async def save_states(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> set[Pair]:
    """Write states whose stored version is the one they were computed from (``version - 1``).

    Returns the pairs written; a pair missing from the answer was changed by
    another writer meanwhile and must be computed again from its new state.
    Rows are written sorted by (rule, key), so concurrent writers lock in the
    same order and cannot deadlock.
    """
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda row: (row["rule"], row["key"]))
    if conn.dialect.name == "postgresql":
        columns = _columns(ordered)
        records = await (await in_transaction(conn)).fetch(_SAVE_COLUMNS, *(columns[name] for name in _STATE_COLUMNS))
        return {(record[0], record[1]) for record in records}
    current = rule_state.c
    statement = built_once(
        conn,
        "rules.save_states",
        lambda: upsert(
            conn, rule_state, conflict=["rule", "key"], where=lambda new: current.version == new.version - 1
        ).returning(current.rule, current.key),
    )
    result = await conn.execute(statement, ordered)
    return {(row.rule, row.key) for row in result}


# PostgreSQL: the rows as one array per column, one statement text whatever their number (prepared
# once), run on the driver (once per processed batch: SQLAlchemy's own work cost as much as the write).
_SAVE_COLUMNS = """
    INSERT INTO rule_state (rule, key, fingerprint, version, data, due_at, updated_at)
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::bigint[], $5::jsonb[], $6::timestamptz[], $7::timestamptz[]
    )
    ON CONFLICT (rule, key) DO UPDATE SET
        fingerprint = excluded.fingerprint, version = excluded.version, data = excluded.data,
        due_at = excluded.due_at, updated_at = excluded.updated_at
    WHERE rule_state.version = excluded.version - 1
    RETURNING rule, key
"""


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in _STATE_COLUMNS}
    columns["data"] = [orjson.dumps(data).decode() for data in columns["data"]]
    return columns


_STATE_COLUMNS = ("rule", "key", "fingerprint", "version", "data", "due_at", "updated_at")


async def due_states(conn: AsyncConnection, *, now: datetime, limit: int) -> list[StateRow]:
    """States whose timer is due; on PostgreSQL locked, skipping those another worker holds."""
    statement = select(rule_state).where(rule_state.c.due_at <= now).order_by(rule_state.c.due_at).limit(limit)
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return [_state(row) for row in await conn.execute(statement)]


async def delete_states(conn: AsyncConnection, *, rule: str) -> None:
    """Drop ``rule``'s state from every row that holds it (rows hold a group of rules' states)."""
    if conn.dialect.name == "postgresql":
        statement = text(
            "UPDATE rule_state SET data = data #- ARRAY['members', :rule], version = version + 1 "
            "WHERE data -> 'members' ? :rule"
        )
    else:
        statement = text(
            "UPDATE rule_state SET data = json_remove(data, :path), version = version + 1 "
            "WHERE json_type(data, :path) IS NOT NULL"
        )
    path = '$.members."' + rule + '"'  # rule names hold no quote (see ``schemas.RuleName``)
    await conn.execute(statement, {"rule": rule, "path": path})


async def clear_due(conn: AsyncConnection, *, pairs: Collection[Pair], at: datetime) -> None:
    """Stop the timers of ``pairs`` (their rule is gone or changed)."""
    if pairs:
        statement = (
            update(rule_state)
            .where(tuple_(rule_state.c.rule, rule_state.c.key).in_(sorted(pairs)))
            .values(due_at=None, version=rule_state.c.version + 1, updated_at=at)
        )
        await conn.execute(statement)
