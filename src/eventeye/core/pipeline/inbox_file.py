"""The embedded inbox on SQLite: a file of its own beside the database (``eventeye.db`` -> ``eventeye.db-inbox``).

SQLite lets one writer at a time into a file. With the inbox in the database
file, accepting waited whenever the processor held that lock to store a
batch; in a file of its own, appending and storing never wait for each other.

Each batch is stored in the database together with how far the inbox file
has been processed (``inbox_progress``: the file's identity and the last
sequence number stored), in one transaction; the worker's pruner deletes the
file's rows up to there after that commits. Rows left by a crash in between
are skipped, then deleted: nothing is lost or stored twice. The identity is
the file's own, so a new inbox file starts from its first row.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.core.pipeline.envelope import Envelope
from eventeye.core.pipeline.inbox import Batch, DatabaseInbox
from eventeye.core.storage.engine import apply_pragma, sqlite_file
from eventeye.core.storage.types import sqlite_instant

logger = logging.getLogger("eventeye.inbox")

T = TypeVar("T")

FORMAT_VERSION = 1
"""The file's ``user_version``; a file written by a newer eventeye is refused rather than misread."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        module TEXT NOT NULL,
        type TEXT NOT NULL,
        source TEXT NOT NULL,
        received_at TEXT NOT NULL,
        body BLOB NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS identity (id TEXT NOT NULL)",
)
SHRINK_FREE_PAGES = 1024
"""Free pages (4 KiB each by default) past which the pruner hands them back to the file system: after a
backlog drains, not under a steady load (whose appends reuse them)."""
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the write-ahead log is truncated to after a checkpoint

_APPEND = "INSERT INTO inbox (id, module, type, source, received_at, body) VALUES (?, ?, ?, ?, ?, ?)"
_READ = "SELECT seq, id, module, type, source, received_at, body FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?"


def inbox_file_path(engine: AsyncEngine) -> Path | None:
    """Where the inbox file of a SQLite database file is; ``None`` for PostgreSQL or an in-memory database."""
    database = sqlite_file(engine)
    if database is None:
        return None
    return Path(f"{database}-inbox")


class InboxFile:
    """The inbox file, used through two connections, each in a thread of its own (the loop never waits on it).

    One connection writes (appends, deletes), the other reads: a batch being
    read never holds up the requests being appended.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = _Connection(path, "eventeye-inbox-write")
        self._reader = _Connection(path, "eventeye-inbox-read")
        self._identity: str | None = None

    async def identity(self) -> str:
        """The file's identity, created with it."""
        if self._identity is None:
            self._identity = await self._writer.run(lambda conn: _prepare(conn, self.path))
        return self._identity

    async def append(self, envelopes: Sequence[Envelope]) -> None:
        """Append and commit (durable when this returns), in the order given."""
        await self.identity()
        rows = [(e.id.hex, e.module, e.type, e.source, sqlite_instant(e.received_at), e.body) for e in envelopes]
        await self._writer.run(lambda conn: _in_transaction(conn, lambda: conn.executemany(_APPEND, rows)))

    async def read(self, *, after: int, limit: int) -> list[tuple[int, Envelope]]:
        """The oldest ``limit`` entries after sequence number ``after``."""
        await self.identity()
        rows = await self._reader.run(lambda conn: conn.execute(_READ, (after, limit)).fetchall())
        return pipeline_repository.sqlite_inbox_entries(rows)

    async def delete_through(self, seq: int) -> None:
        """Delete the entries up to and including ``seq`` (processed ones); shrink the file if they freed much."""
        delete = "DELETE FROM inbox WHERE seq <= ?"

        def work(conn: sqlite3.Connection) -> None:
            _in_transaction(conn, lambda: conn.execute(delete, (seq,)))
            if conn.execute("PRAGMA freelist_count").fetchone()[0] >= SHRINK_FREE_PAGES:
                # Through sqlite3_exec: stepped by execute(), it frees only the first page.
                conn.executescript("PRAGMA incremental_vacuum;")

        await self._writer.run(work)

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()


class FileInbox(DatabaseInbox):
    """The embedded inbox on SQLite: group commit into the inbox file, progress kept in the database.

    Processed entries are deleted by a task of their own (``run_pruner``):
    deleting needs the file's lock, which the writer of a busy API process
    takes again and again, and the processor need not wait for it. Events
    still in the ``inbox`` table (written before the inbox had a file of its
    own) are processed first.
    """

    def __init__(
        self, engine: AsyncEngine, file: InboxFile, *, max_batch: int, max_backlog: int, linger: float
    ) -> None:
        super().__init__(engine, max_batch=max_batch, max_backlog=max_backlog, linger=linger)
        self.file = file
        self._table_drained = False
        self._processed_through = 0
        self._deleted_through = 0
        self._prune = asyncio.Event()

    async def _append(self, envelopes: list[Envelope]) -> None:
        await self.file.append(envelopes)

    async def pending(self) -> int:
        return await count_inbox(self.engine)

    async def fetch(self, conn: AsyncConnection, limit: int) -> Batch | None:
        if not self._table_drained:
            batch = await super().fetch(conn, limit)
            if batch is not None:
                return batch
            self._table_drained = True
        identity = await self.file.identity()
        done = await pipeline_repository.inbox_progress(conn, inbox=identity)
        entries = await self.file.read(after=done, limit=limit)
        if not entries:
            self._processed(done)  # entries stored before a restart may not have been deleted
            return None
        return Batch(envelopes=[envelope for _, envelope in entries], tokens=[seq for seq, _ in entries])

    async def settle(self, conn: AsyncConnection, batch: Batch) -> None:
        if not self._table_drained:
            await super().settle(conn, batch)
            return
        await pipeline_repository.save_inbox_progress(conn, inbox=await self.file.identity(), seq=batch.tokens[-1])

    async def committed(self, batch: Batch) -> None:
        await super().committed(batch)
        if self._table_drained:
            self._processed(batch.tokens[-1])

    def _processed(self, seq: int) -> None:
        self._processed_through = max(self._processed_through, seq)
        if self._processed_through > self._deleted_through:
            self._prune.set()

    async def run_pruner(self, pause: float = 1.0) -> None:
        """Delete processed entries from the file, until cancelled."""
        while True:
            await self._prune.wait()
            self._prune.clear()
            through = self._processed_through
            try:
                await self.file.delete_through(through)
            except sqlite3.Error:
                # Stored and recorded already: they are skipped until a later try deletes them.
                logger.warning("could not delete processed entries from the inbox file", exc_info=True)
                self._prune.set()
                await asyncio.sleep(pause)
                continue
            self._deleted_through = max(self._deleted_through, through)

    async def close(self) -> None:
        await self.file.close()


async def count_inbox(engine: AsyncEngine) -> int:
    """Events waiting in the embedded inbox, wherever it is: the ``inbox`` table, and on SQLite the
    inbox file's entries after the progress recorded in the database (processed ones wait for the pruner)."""
    path = inbox_file_path(engine)
    identity = await asyncio.to_thread(_identity_of, path) if path is not None and path.exists() else None
    async with engine.connect() as conn:
        waiting = await pipeline_repository.inbox_backlog(conn)
        if path is None or identity is None:
            return waiting
        done = await pipeline_repository.inbox_progress(conn, inbox=identity)
    return waiting + await asyncio.to_thread(_entries_after, path, done)


def _identity_of(path: Path) -> str | None:
    with closing(_read_only(path)) as conn:
        try:
            row = conn.execute("SELECT id FROM identity").fetchone()
        except sqlite3.OperationalError:  # a file being created
            return None
    return str(row[0]) if row else None


def _entries_after(path: Path, seq: int) -> int:
    with closing(_read_only(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM inbox WHERE seq > ?", (seq,)).fetchone()[0])


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


class _Connection:
    """A sqlite3 connection opened and used in one thread of its own."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = _connect(self.path)
        return work(self._conn)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE for writes).
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    # auto_vacuum takes effect in a new file only (see _prepare for older ones).
    pragmas = ("PRAGMA auto_vacuum=INCREMENTAL", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
    for pragma in (*pragmas, f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}"):
        apply_pragma(conn, pragma)
    return conn


def _in_transaction(conn: sqlite3.Connection, work: Callable[[], object]) -> None:
    """``work`` in a write transaction (the file's lock taken up front, waiting out the busy timeout)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        work()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _prepare(conn: sqlite3.Connection, path: Path) -> str:
    """Create the file's tables and identity if missing (one transaction: processes may race); its identity."""

    def create() -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > FORMAT_VERSION:
            raise RuntimeError(f"{path} was written by a newer eventeye (format {version}); upgrade eventeye")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO identity SELECT ? WHERE NOT EXISTS (SELECT 1 FROM identity)", (uuid.uuid4().hex,))
        conn.execute(f"PRAGMA user_version = {FORMAT_VERSION}")

    _in_transaction(conn, create)
    _make_shrinkable(conn)
    return str(conn.execute("SELECT id FROM identity").fetchone()[0])


def _make_shrinkable(conn: sqlite3.Connection) -> None:
    """A file created without auto_vacuum (by an earlier eventeye) gets it when it is empty."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 0 or conn.execute("SELECT 1 FROM inbox").fetchone():
        return
    try:
        conn.execute("VACUUM")  # rewrites the file with the auto_vacuum mode set in _connect
    except sqlite3.OperationalError:
        logger.info("inbox file in use by another process; it shrinks after a later restart")
