"""Creating the async engine for SQLite (embedded) or PostgreSQL, chosen by URL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from eventeye.errors import Unavailable

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
)


WRITE_OPTION = "eventeye_write"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, *, pool_size: int = 20, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL and the pragmas above on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    return create_async_engine(
        url,
        echo=echo,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        # A fixed pool: connections beyond it would be opened and closed again on every
        # burst (a connection costs far more than waiting for one).
        pool_size=pool_size,
        max_overflow=0,
        # The most recently used connection first: its server process and prepared statements
        # are warm, and connections a burst opened stay idle instead of taking turns.
        pool_use_lifo=True,
        # No ping per checkout (a round trip on every transaction): a connection
        # found dead invalidates the pool, and that request answers 503.
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": "eventeye"}},
    )


def _stop_aiosqlite_once() -> None:
    """Make ``aiosqlite.Connection.stop`` do nothing the second time.

    SQLAlchemy terminates an invalidated connection (a task cancelled while it
    held one) by closing it in a shielded task and, if it is cancelled meanwhile,
    stopping it. aiosqlite's ``close()`` then stops the worker thread again and
    waits for that second stop to be acknowledged by a thread that has already
    exited: the task waits forever, and so does whatever waits for all tasks
    (an event loop's shutdown). A second stop has nothing to do.
    """
    stop = aiosqlite.Connection.stop
    if getattr(stop, "once", False):
        return

    def stop_once(self: aiosqlite.Connection) -> asyncio.Future[Any] | None:
        if not self._running:
            return None
        return stop(self)

    stop_once.once = True  # type: ignore[attr-defined]
    aiosqlite.Connection.stop = stop_once  # type: ignore[method-assign]


_stop_aiosqlite_once()


class _RollingBackConnection(sqlite3.Connection):
    """A SQLite connection that rolls back its open transaction when it closes.

    ``close()`` alone leaves a connection whose statements are still referenced
    (a cursor kept alive by the traceback of a cancelled task) open as a
    "zombie" until they are garbage collected, and a zombie keeps its
    transaction and the database's write lock: every other writer waits out
    its busy timeout. Rolling back first releases the lock at once.
    """

    def close(self) -> None:
        try:
            if self.in_transaction:
                self.rollback()
        except sqlite3.Error:
            pass  # closed already, or the rollback failed: closing is all that is left
        super().close()


def _sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        echo=echo,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args={"timeout": 30, "factory": _RollingBackConnection},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy own BEGIN so that engine.begin() is one real transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            apply_pragma(cursor, pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front (IMMEDIATE) so that concurrent writers
        # queue on busy_timeout instead of failing to upgrade a read lock;
        # readers never block anyone in WAL mode.
        writing = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def apply_pragma(cursor: Any, pragma: str, *, attempts: int = 100) -> None:
    """Run a PRAGMA, waiting out a lock: switching a new database to WAL needs it alone, and
    SQLite answers "database is locked" at once (no busy wait) to a second connection doing the same."""
    for attempt in range(attempts):
        try:
            cursor.execute(pragma)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)  # blocks the loop briefly; happens only while a new database is set up


async def check_connection(engine: AsyncEngine) -> None:
    """Raise ``Unavailable`` saying why when the database cannot be reached (refused, unknown, no access)."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # drivers raise OSError, their own errors or SQLAlchemy's
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unavailable(f"cannot reach the database: {cause}") from exc


def sqlite_file(engine: AsyncEngine) -> Path | None:
    """The file of a SQLite database; ``None`` for PostgreSQL or an in-memory database."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def backend_name(engine: AsyncEngine) -> str:
    """``sqlite`` or ``postgresql``."""
    return engine.dialect.name


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: on SQLite it holds the write lock from its start."""
    async with engine.connect() as conn:
        await conn.execution_options(**{WRITE_OPTION: True})
        async with conn.begin():
            yield conn


@asynccontextmanager
async def read_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only unit of work (one consistent snapshot)."""
    async with engine.connect() as conn, conn.begin():
        yield conn


@asynccontextmanager
async def single_statement(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for one statement, which may write, that is a transaction on its own.

    On PostgreSQL it runs without BEGIN and COMMIT (one round trip instead of
    three; a write is committed when the statement returns); on SQLite, in a
    write transaction as usual.
    """
    if engine.dialect.name != "postgresql":
        async with write_transaction(engine) as conn:
            yield conn
        return
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")
