"""Statements run on the database driver itself, for the busiest requests and every processed batch.

Checking a connection out of SQLAlchemy's pool and running a statement
through it cost about 0.3 ms of CPU per statement here, more than the
statement (measured: 512 µs per criticality claim through SQLAlchemy, 225 µs
through a pool of asyncpg's own). Routes that answer with one autocommitted
statement, at thousands of requests a second, use this instead::

    CLAIM = DriverStatement(update(consumers).where(...).returning(...))
    row = await driver.fetchrow(CLAIM, {"app_name": name})

Statements stay SQLAlchemy Core, compiled once for asyncpg; values go to the
driver as they are (aware datetimes, text, numbers). Connections here are
never inside a transaction nor changed by a statement, so they go back to
the pool without a reset (asyncpg's default reset is one more round trip).

Statements that run once per processed batch, inside its transaction, run on
the same connection's driver (``in_transaction``; on SQLite,
``sqlite_driver``): the same saving, without leaving the transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aiosqlite
import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from eventeye.core.storage.outage import UNREACHABLE
from eventeye.errors import Unavailable

logger = logging.getLogger("eventeye.errors")

# How this pool's connections show in pg_stat_activity (the engine's are "eventeye").
DRIVER_APPLICATION_NAME = "eventeye driver"
_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


class DriverStatement:
    """A Core statement compiled once for asyncpg: its SQL and the order of its parameters."""

    __slots__ = ("sql", "names", "defaults")

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())
        self.defaults = {name: value for name, value in compiled.params.items() if value is not None}

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        return [values[name] if name in values else self.defaults[name] for name in self.names]


async def in_transaction(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under ``conn``, its transaction begun: what runs on it is part of that transaction.

    ``conn`` must be a started PostgreSQL connection. SQLAlchemy sends BEGIN
    with the first statement it runs, so a transaction none has run in yet is
    begun here (or this statement would commit on its own). Errors reach the
    caller as asyncpg's own; the transaction fails as a whole, as it would
    through SQLAlchemy.
    """
    sync = conn.sync_connection
    assert sync is not None, "a started connection"
    adapted: Any = sync.connection.dbapi_connection
    if conn.in_transaction() and adapted._transaction is None:
        await adapted._start_transaction()
    return adapted.driver_connection


def sqlite_driver(conn: AsyncConnection) -> aiosqlite.Connection:
    """The aiosqlite connection under a started SQLite ``conn``: what runs on it is part of its transaction.

    Values go in as SQLite stores them through SQLAlchemy (``types.sqlite_instant``,
    UUIDs as 32 hex digits, JSON as text) and come back the same way.
    """
    sync = conn.sync_connection
    assert sync is not None, "a started connection"
    adapted: Any = sync.connection.dbapi_connection
    driver: aiosqlite.Connection = adapted.driver_connection
    return driver


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Nothing to undo: these connections only ever run autocommitted statements."""


def asyncpg_dsn(database_url: str) -> str:
    """The database URL as asyncpg takes it (no SQLAlchemy driver name)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class DriverPool:
    """A small asyncpg pool for ``DriverStatement``s, opened on first use."""

    def __init__(self, database_url: str, *, size: int) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def fetchrow(self, statement: DriverStatement, values: dict[str, Any]) -> asyncpg.Record | None:
        """Run ``statement`` as a transaction of its own; its first row, if any.

        ``Unavailable`` (503) when the database cannot be reached or takes no more connections.
        """
        return await self._run("fetchrow", statement.sql, statement.arguments(values))

    async def execute(self, sql: str, *arguments: Any) -> None:
        """Run SQL with positional parameters (``$1``...) as a transaction of its own; ``Unavailable`` as above."""
        await self._run("execute", sql, arguments)

    async def _run(self, method: str, sql: str, arguments: Sequence[Any]) -> Any:
        try:
            pool = self._pool or await self._open()
            async with pool.acquire() as connection:
                try:
                    return await getattr(connection, method)(sql, *arguments)
                except UNREACHABLE:
                    connection.terminate()  # lost or in an unknown state: the pool opens another in its place
                    raise
        except UNREACHABLE as exc:
            logger.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise Unavailable("the database is unavailable; retry shortly", headers={"Retry-After": "1"}) from exc

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=1,
                    max_size=self.size,
                    reset=_no_reset,
                    server_settings={"application_name": DRIVER_APPLICATION_NAME},
                )
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
