"""Telling a database that cannot be reached from a statement that failed.

A lost connection, a server restarting or refusing connections says nothing
about the work that was under way: the same work succeeds once the database
is back. Callers answer such failures with 503 or a retry, never by blaming
the data.
"""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# The database is down, restarting, or full: answered as the engine's own connection failures are.
UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection the server ended while it was idle
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
    sqlite3.OperationalError,  # locked past the busy timeout, I/O errors (the SQLite inbox file's own connections)
)


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc``, or an error that caused it, says the database could not be reached."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UNREACHABLE):
            return True
        if isinstance(current, DBAPIError) and (
            current.connection_invalidated or isinstance(current, OperationalError | InterfaceError)
        ):
            return True
        current = current.__cause__ or current.__context__
    return False
