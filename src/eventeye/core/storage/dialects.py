"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")
_built: dict[tuple[str, Hashable], Any] = {}


def built_once(conn: AsyncConnection, name: Hashable, build: Callable[[], T]) -> T:
    """The statement ``build`` makes, made once per dialect and ``name``.

    Statements are immutable; building one (an upsert's ``excluded`` columns,
    its clauses) costs more Python than its cached compilation, on every batch.
    """
    key = (conn.dialect.name, name)
    found = _built.get(key)
    if found is None:
        found = _built[key] = build()
    return found


def _insert(conn: AsyncConnection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(conn: AsyncConnection, table: Table, conflict: Sequence[str] | None = None) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` for this connection's dialect."""
    return _insert(conn, table).on_conflict_do_nothing(index_elements=conflict)  # type: ignore[no-any-return]


def upsert(
    conn: AsyncConnection,
    table: Table,
    *,
    conflict: Sequence[str],
    update: Callable[[Any], dict[str, Any]] | None = None,
    where: Callable[[Any], Any] | None = None,
) -> Insert:
    """``INSERT ... ON CONFLICT (conflict) DO UPDATE [WHERE ...]``.

    ``update(excluded)`` maps columns to new values, where ``excluded`` is the
    proposed row (``excluded.count``); by default every non-key column is
    overwritten. ``where(excluded)``, when given, updates only the existing
    rows it holds for (the others are left as they are). Example::

        upsert(conn, totals, conflict=["key"], update=lambda new: {"n": totals.c.n + new.n})
    """
    statement = _insert(conn, table)
    new = statement.excluded
    values = update(new) if update else {c.name: new[c.name] for c in table.columns if c.name not in conflict}
    condition = where(new) if where else None
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=conflict, set_=values, where=condition
    )


async def insert_many_ignore_returning(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], *, key: str = "id"
) -> set[Any]:
    """Insert ``rows`` skipping those whose ``key`` exists; returns the keys actually inserted."""
    if not rows:
        return set()
    statement = built_once(
        conn, ("insert_ignore_returning", table, key), lambda: insert_ignore(conn, table, [key]).returning(table.c[key])
    )
    result = await conn.execute(statement, rows)
    return {row[0] for row in result}
