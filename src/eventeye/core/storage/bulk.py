"""Bulk inserts given column by column, in the fastest form each database takes.

PostgreSQL gets one statement whatever the number of rows: each column is one
array parameter, spread back into rows by ``unnest`` (no per-row parameters
to bind, no row limit per statement). SQLite gets a multi-row ``INSERT``.
Both skip rows whose key exists and return the keys actually inserted::

    new_ids = await insert_columns_ignore(
        conn, detections, {"id": ids, "make": makes}, constants={"indexed_at": now}
    )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, String, Table, Text, bindparam, func, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.storage.dialects import insert_many_ignore_returning

SEPARATOR = "\x1f"


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
    if conn.dialect.name != "postgresql":
        names = list(columns)
        rows = [
            dict(zip(names, values, strict=True)) | dict(constants) for values in zip(*columns.values(), strict=True)
        ]
        return await insert_many_ignore_returning(conn, table, rows, key=key)
    return await _unnest_insert(conn, table, columns, constants, key)


def _array(table: Table, name: str, values: Sequence[Any]) -> Any:
    """One parameter holding a whole column: text joined with a separator it does not contain, else an array."""
    column_type = table.c[name].type
    if isinstance(column_type, String) and len(values) > 1:
        try:
            joined = SEPARATOR.join(values)
        except TypeError:  # not all text
            joined = ""
        if joined.count(SEPARATOR) == len(values) - 1:
            # The driver encodes one string instead of checking and encoding every element.
            return func.string_to_array(bindparam(f"c_{name}", joined, type_=Text), SEPARATOR)
    return bindparam(f"c_{name}", list(values), type_=ARRAY(column_type))


async def _unnest_insert(
    conn: AsyncConnection, table: Table, columns: Mapping[str, Sequence[Any]], constants: Mapping[str, Any], key: str
) -> set[Any]:
    arrays = [_array(table, name, values) for name, values in columns.items()]
    rows = func.unnest(*arrays).table_valued(*columns).render_derived(name="rows")
    shared = [literal(value, table.c[name].type) for name, value in constants.items()]
    source = select(*(rows.c[name] for name in columns), *shared)
    inserted = (
        postgresql.insert(table)
        .from_select([*columns, *constants], source)
        .on_conflict_do_nothing(index_elements=[key])
        .returning(table.c[key])
        .cte("inserted")
    )
    # One array back instead of a row per key: far less to decode.
    keys = (await conn.execute(select(func.array_agg(inserted.c[key])))).scalar_one()
    return set(keys or ())
