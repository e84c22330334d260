"""The benchmark's direct database access: fresh databases, table counts, and the 1M-event bulk load.

The bulk load writes ``web_events`` (and the ``web_sessions`` projection)
directly, bypassing HTTP and the processor: COPY on PostgreSQL, one
``executemany`` transaction on SQLite, in the storage format eventeye's
column types use.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psycopg2
from uuid_utils.compat import uuid7

PAGES = [("page interaction", "pageview"), ("page interaction", "cta click"), ("form interaction", "submit")]
START = datetime(2021, 1, 1, tzinfo=UTC)
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class Database:
    """Where a benchmarked eventeye keeps its data; ``url`` as eventeye takes it."""

    kind: str
    url: str
    path: str = ""  # the SQLite file

    def counts(self, *tables: str) -> list[int]:
        """Row counts, read on a connection of our own (the server is not involved).

        On SQLite, ``inbox`` counts the inbox file beside the database as well as the table.
        """
        statement = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in tables)
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.path, timeout=30)) as conn:
                counts = list(conn.execute(statement).fetchone())
            if "inbox" in tables:
                counts[tables.index("inbox")] += self._inbox_file_rows()
            return counts
        with psycopg2.connect(self.url) as conn, conn.cursor() as cursor:
            cursor.execute(statement)
            row = cursor.fetchone()
        assert row is not None
        return list(row)

    def _inbox_file_rows(self) -> int:
        """Entries of the inbox file after the progress recorded in the database (not yet processed)."""
        path = Path(f"{self.path}-inbox")  # as eventeye.core.pipeline.inbox_file names it
        if not path.exists():
            return 0
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as inbox:
            try:
                [identity] = inbox.execute("SELECT id FROM identity").fetchone()
            except (sqlite3.OperationalError, TypeError):  # the file is being created
                return 0
            with closing(sqlite3.connect(self.path, timeout=30)) as conn:
                row = conn.execute("SELECT seq FROM inbox_progress WHERE inbox = ?", (identity,)).fetchone()
            return int(inbox.execute("SELECT count(*) FROM inbox WHERE seq > ?", (row[0] if row else 0,)).fetchone()[0])


SESSION_QUERY = "SELECT * FROM web_events WHERE session_id = {} ORDER BY occurred_at, id LIMIT 1000"


def session_query_seconds(db: Database, sessions: list[str]) -> list[float]:
    """The SQL alone of ``GET /v1/sessions/{id}/events``, timed for each session on a connection of our own."""
    timings = []
    if db.kind == "sqlite":
        with sqlite3.connect(db.path, timeout=30) as conn:
            for session in sessions:
                started = time.perf_counter()
                conn.execute(SESSION_QUERY.format("?"), (session,)).fetchall()
                timings.append(time.perf_counter() - started)
        return timings
    with psycopg2.connect(db.url) as conn, conn.cursor() as cursor:
        for session in sessions:
            started = time.perf_counter()
            cursor.execute(SESSION_QUERY.format("%s"), (session,))
            cursor.fetchall()
            timings.append(time.perf_counter() - started)
    return timings


@contextmanager
def app_counter(kind: str, url: str, app: str) -> Iterator[Callable[[], int]]:
    """A function counting the stored events of ``app``, on one autocommit connection (sees each new commit)."""
    if kind == "sqlite":
        lite = sqlite3.connect(url, timeout=30, isolation_level=None)
        try:
            yield lambda: int(lite.execute("SELECT count(*) FROM web_events WHERE app = ?", (app,)).fetchone()[0])
        finally:
            lite.close()
        return
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cursor = conn.cursor()

    def count() -> int:
        cursor.execute("SELECT count(*) FROM web_events WHERE app = %s", (app,))
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    try:
        yield count
    finally:
        conn.close()


@contextmanager
def fresh_postgres(base: str) -> Iterator[str]:
    """A new database on the server at ``base`` (postgresql://user@host:port/), dropped afterwards."""
    name = f"eventeye_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(base.rstrip("/") + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rstrip("/") + f"/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _rows(total: int, per_session: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """(id, session, category, name, occurred_at, received_at, app, known, data) in session-interleaved time order."""
    sessions = sessions_of(total, per_session, seed)
    for index in range(total):
        session = sessions[index % len(sessions)]
        category, name = PAGES[index % len(PAGES)]
        at = START + timedelta(milliseconds=index * 50)
        data = {"host": "www.example.com", "path": f"/p/{index}"}
        if name == "cta click":
            data["element"] = "buy"
        elif name == "submit":
            data["form"] = {"first_name": "Ada", "last_name": "Lovelace"}
        yield (uuid7(), session, category, name, at, at, "bench-bulk", True, orjson.dumps(data).decode())


def sessions_of(total: int, per_session: int, seed: int = 7) -> list[str]:
    """The session ids of a bulk load (the same for the same arguments)."""
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(total // per_session)]


def bulk_load(db: Database, *, total: int, per_session: int) -> float:
    """Store ``total`` events in ``total // per_session`` sessions; returns the seconds it took."""
    started = time.perf_counter()
    if db.kind == "sqlite":
        _load_sqlite(db.path, total, per_session)
    else:
        asyncio.run(_load_postgres(db.url, total, per_session))
    return time.perf_counter() - started


def _sessions_rows(total: int, per_session: int) -> list[tuple[Any, ...]]:
    last = START + timedelta(milliseconds=(total - 1) * 50)
    return [(session, START, last, per_session) for session in sessions_of(total, per_session)]


def _load_sqlite(path: str, total: int, per_session: int) -> None:
    def encode(row: tuple[Any, ...]) -> tuple[Any, ...]:
        event_id, session, category, name, at, received, app, known, data = row
        stamp = at.astimezone(UTC).strftime(SQLITE_TIME)
        return (event_id.hex, session, category, name, stamp, stamp, app, int(known), data)

    with sqlite3.connect(path, timeout=60) as conn:
        conn.executemany(
            "INSERT INTO web_events (id, session_id, category, name, occurred_at, received_at, app, known_type, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (encode(row) for row in _rows(total, per_session)),
        )
        sessions = [
            (s, a.strftime(SQLITE_TIME), b.strftime(SQLITE_TIME), n)
            for s, a, b, n in _sessions_rows(total, per_session)
        ]
        conn.executemany(
            "INSERT OR IGNORE INTO web_sessions (session_id, first_seen, last_seen, event_count) VALUES (?, ?, ?, ?)",
            sessions,
        )
        conn.execute("ANALYZE")


async def _load_postgres(url: str, total: int, per_session: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        columns = ["id", "session_id", "category", "name", "occurred_at", "received_at", "app", "known_type", "data"]
        rows = _rows(total, per_session)
        while chunk := [row for _, row in zip(range(100_000), rows, strict=False)]:
            await conn.copy_records_to_table("web_events", records=chunk, columns=columns)
        await conn.copy_records_to_table(
            "web_sessions",
            records=_sessions_rows(total, per_session),
            columns=["session_id", "first_seen", "last_seen", "event_count"],
        )
        await conn.execute("ANALYZE web_events; ANALYZE web_sessions")
    finally:
        await conn.close()
