"""Bulk inserts given column by column, on the database driver, in the fastest form each database takes.

Once per processed batch, so the statements skip SQLAlchemy's execution
path (which bound every value of every row) and run on the batch's own
connection, inside its transaction. PostgreSQL gets one statement whatever
the number of rows: each column is one array parameter, spread back into
rows by ``unnest`` (one statement text, prepared once). SQLite, whose batch
holds the file's write lock, looks up which keys exist and inserts the rest
with ``executemany``, values in the forms SQLAlchemy stores. Both skip rows
whose key exists and return the keys actually inserted::

    new_ids = await insert_columns_ignore(
        conn, detections, {"id": ids, "make": makes}, constants={"indexed_at": now}
    )
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Table, Uuid
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from eventeye.core.storage.driver import in_transaction, sqlite_driver
from eventeye.core.storage.types import UTCDateTime, sqlite_instant

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]
_SQLITE_KEYS_PER_QUERY = 500


async def insert_columns_ignore(
    conn: AsyncConnection,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    *,
    constants: Mapping[str, Any] | None = None,
    key: str = "id",
) -> set[Any]:
    """Insert rows given as equal-length columns (plus values shared by every row); returns the new keys."""
    constants = constants or {}
    count = len(columns[key])
    if any(len(values) != count for values in columns.values()):
        raise ValueError("every column needs one value per row")
    if count == 0:
        return set()
    if conn.dialect.name == "postgresql":
        return await _unnest_insert(conn, table, columns, constants, key)
    return await _sqlite_insert(conn, table, columns, constants, key)


async def _unnest_insert(
    conn: AsyncConnection, table: Table, columns: Mapping[str, Sequence[Any]], constants: Mapping[str, Any], key: str
) -> set[Any]:
    sql = _unnest_sql(table, tuple(columns), tuple(constants), key)
    values = [_pg_values(table.c[name].type, column) for name, column in columns.items()]
    shared = [_pg_values(table.c[name].type, [value])[0] for name, value in constants.items()]
    inserted = await (await in_transaction(conn)).fetchval(sql, *values, *shared)
    if isinstance(table.c[key].type, Uuid):  # the driver's own UUID type is not one every encoder takes
        return {uuid.UUID(int=value.int) for value in inserted or ()}
    return set(inserted or ())


@cache
def _unnest_sql(table: Table, names: tuple[str, ...], constant_names: tuple[str, ...], key: str) -> str:
    arrays = ", ".join(f"${n}::{_pg_type(table, name)}[]" for n, name in enumerate(names, 1))
    shared = "".join(f", ${n}::{_pg_type(table, name)}" for n, name in enumerate(constant_names, len(names) + 1))
    return f"""
        WITH inserted AS (
            INSERT INTO {table.name} ({", ".join((*names, *constant_names))})
            SELECT *{shared} FROM unnest({arrays})
            ON CONFLICT ({key}) DO NOTHING
            RETURNING {key}
        )
        SELECT array_agg({key}) FROM inserted
    """


def _pg_type(table: Table, name: str) -> str:
    return str(table.c[name].type.compile(dialect=_PG))


def _pg_values(column_type: TypeEngine[Any], values: Sequence[Any]) -> list[Any]:
    # JSON goes to the driver as text (the codec SQLAlchemy sets on its connections takes text).
    if isinstance(column_type, JSON):
        return [orjson.dumps(value).decode() for value in values]
    return list(values)


async def _sqlite_insert(
    conn: AsyncConnection, table: Table, columns: Mapping[str, Sequence[Any]], constants: Mapping[str, Any], key: str
) -> set[Any]:
    # The batch holds SQLite's write lock, so the keys found here stay the stored ones until it ends.
    driver = sqlite_driver(conn)
    stored_forms = {name: _sqlite_value(table.c[name].type) for name in (*columns, *constants)}
    keys = [stored_forms[key](value) for value in columns[key]]
    stored: set[Any] = set()
    for start in range(0, len(keys), _SQLITE_KEYS_PER_QUERY):
        chunk = keys[start : start + _SQLITE_KEYS_PER_QUERY]
        query = f"SELECT {key} FROM {table.name} WHERE {key} IN ({','.join('?' * len(chunk))})"
        stored.update(found for (found,) in await driver.execute_fetchall(query, chunk))
    new = []
    for row, stored_key in enumerate(keys):  # a key given twice is inserted once, as ON CONFLICT would
        if stored_key not in stored:
            stored.add(stored_key)
            new.append(row)
    shared = tuple(stored_forms[name](value) for name, value in constants.items())
    stored_columns = [list(map(stored_forms[name], map(values.__getitem__, new))) for name, values in columns.items()]
    names = (*columns, *constants)
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    await driver.executemany(sql, [(*values, *shared) for values in zip(*stored_columns, strict=True)])
    return {columns[key][row] for row in new}


def _sqlite_value(column_type: TypeEngine[Any]) -> Callable[[Any], Any]:
    """How a value of ``column_type`` is stored on SQLite through SQLAlchemy."""
    if isinstance(column_type, UTCDateTime):
        return sqlite_instant
    if isinstance(column_type, Uuid):
        return _hex
    if isinstance(column_type, JSON):
        return _json_text
    return _same


_hex = attrgetter("hex")


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _same(value: Any) -> Any:
    return value
