"""The SQLite inbox file: appends that never wait for the database, and exactly-once processing across two files."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.core.pipeline.inbox_file import SHRINK_FREE_PAGES, FileInbox, count_inbox, inbox_file_path
from eventeye.core.pipeline.service import Pipeline
from eventeye.core.storage.engine import write_transaction
from eventeye.core.storage.tables import errors
from tests.core.pipeline.support import Refuser, append, envelopes, processed_ids
from tests.fixtures.waiting import eventually


@pytest.fixture(autouse=True)
def sqlite_only(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the inbox has a file of its own on SQLite only")


def new_pipeline(engine: AsyncEngine, settings: Settings) -> tuple[Pipeline, FileInbox]:
    pipeline = Pipeline(engine, settings)
    pipeline.add_handler("things", Refuser())
    assert isinstance(pipeline.table_inbox, FileInbox)
    return pipeline, pipeline.table_inbox


def fail_once(monkeypatch: pytest.MonkeyPatch, target: object, method: str, error: Exception) -> list[Exception]:
    """Make ``target.method`` raise ``error`` on its next call only; the list empties once it has."""
    failures = [error]
    real = getattr(target, method)

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(target, method, flaky)
    return failures


def file_rows(inbox: FileInbox) -> int:
    with closing(sqlite3.connect(inbox.file.path)) as conn:
        return int(conn.execute("SELECT count(*) FROM inbox").fetchone()[0])


async def drain(pipeline: Pipeline) -> int:
    total = 0
    while count := await pipeline.processor.step(pipeline.source):
        total += count
    return total


async def test_appending_does_not_wait_for_the_database_write_lock(engine: AsyncEngine, settings: Settings) -> None:
    pipeline, inbox = new_pipeline(engine, settings)
    database = engine.url.database
    assert database is not None
    with closing(sqlite3.connect(database, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")  # as the processor does while it stores a batch
        try:
            # Waiting for the lock would take the busy timeout (10 s) and then fail.
            await asyncio.wait_for(append(inbox, envelopes(3)), timeout=5)
        finally:
            holder.execute("ROLLBACK")
    assert await count_inbox(engine) == 3
    await pipeline.close()


async def test_processed_entries_are_deleted_apart_and_never_processed_again(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, inbox = new_pipeline(engine, settings)
    items = envelopes(5)
    await append(inbox, items)
    assert await first.processor.step(first.source) == 5
    assert await count_inbox(engine) == 0
    assert file_rows(inbox) == 5  # still in the file, as when a process stops before its pruner ran
    await first.close()

    second, inbox = new_pipeline(engine, settings)  # as a restarted process
    failures = fail_once(monkeypatch, inbox.file, "delete_through", sqlite3.OperationalError("database is locked"))
    pruner = asyncio.create_task(inbox.run_pruner(pause=0.01))
    try:
        assert await drain(second) == 0
        await eventually(lambda: asyncio.to_thread(file_rows, inbox), lambda n: n == 0)
    finally:
        pruner.cancel()
    assert not failures
    assert await processed_ids(engine) == sorted(str(e.id) for e in items)
    await second.close()


async def test_a_new_inbox_file_is_processed_from_its_first_entry(engine: AsyncEngine, settings: Settings) -> None:
    first, inbox = new_pipeline(engine, settings)
    before = envelopes(4)
    await append(inbox, before)
    assert await drain(first) == 4
    await first.close()
    path = inbox_file_path(engine)
    assert path is not None
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)

    second, inbox = new_pipeline(engine, settings)
    after = envelopes(2)  # numbered 1 and 2 again, below the old file's progress
    await append(inbox, after)
    assert await drain(second) == 2
    assert await processed_ids(engine) == sorted(str(e.id) for e in before + after)
    await second.close()


async def test_events_left_in_the_inbox_table_are_processed_first(engine: AsyncEngine, settings: Settings) -> None:
    pipeline, inbox = new_pipeline(engine, settings)
    older, newer = envelopes(3), envelopes(2)
    async with write_transaction(engine) as conn:  # written by an eventeye whose inbox was a table
        await pipeline_repository.append_inbox(conn, rows=[e.as_row() for e in older])
    await append(inbox, newer)
    assert await count_inbox(engine) == 5

    assert await pipeline.processor.step(pipeline.source) == 3  # the table's events, alone in their batch
    assert await drain(pipeline) == 2
    assert await processed_ids(engine) == sorted(str(e.id) for e in older + newer)
    assert await count_inbox(engine) == 0
    await pipeline.close()


async def test_a_file_written_by_a_newer_version_is_refused(engine: AsyncEngine, settings: Settings) -> None:
    pipeline, inbox = new_pipeline(engine, settings)
    await inbox.file.identity()
    with closing(sqlite3.connect(inbox.file.path)) as conn:
        conn.execute("PRAGMA user_version = 99")
    again, inbox = new_pipeline(engine, settings)
    try:
        with pytest.raises(RuntimeError, match="newer eventeye"):
            await inbox.file.identity()
    finally:
        with closing(sqlite3.connect(inbox.file.path)) as conn:
            conn.execute("PRAGMA user_version = 1")
        await pipeline.close()
        await again.close()


async def test_a_failing_read_of_the_file_waits_instead_of_blaming_the_events(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, inbox = new_pipeline(engine, settings)
    items = envelopes(3)
    await append(inbox, items)
    failures = fail_once(monkeypatch, inbox.file, "read", sqlite3.OperationalError("disk I/O error"))
    assert await pipeline.processor.step(pipeline.source) == 0
    assert not failures
    # The same batch whole: the processor did not go looking for a faulty event one by one.
    assert await pipeline.processor.step(pipeline.source) == 3
    async with engine.connect() as conn:
        kinds = {row.kind for row in await conn.execute(select(errors.c.kind))}
    assert kinds == {"test"}
    assert await processed_ids(engine) == sorted(str(e.id) for e in items)
    await pipeline.close()


def file_pages(path: Path) -> tuple[int, int]:
    """(pages in use or free, free pages) of the inbox file."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA page_count").fetchone()[0], conn.execute("PRAGMA freelist_count").fetchone()[0]


async def test_the_file_shrinks_once_a_backlog_is_processed(engine: AsyncEngine, settings: Settings) -> None:
    pipeline, inbox = new_pipeline(engine, settings)
    big = b'{"padding": "' + b"x" * 4000 + b'"}'
    await append(inbox, envelopes(3000, body=big))  # about 3,000 pages of 4 KiB
    grown, _ = await asyncio.to_thread(file_pages, inbox.file.path)
    pruner = asyncio.create_task(inbox.run_pruner(pause=0.01))
    try:
        assert await drain(pipeline) == 3000
        await eventually(lambda: asyncio.to_thread(file_rows, inbox), lambda n: n == 0)
        # Handed back to the file system, keeping at most SHRINK_FREE_PAGES for the next appends.
        shrunk = await eventually(
            lambda: asyncio.to_thread(file_pages, inbox.file.path),
            lambda sizes: sizes[0] < grown // 2 and sizes[1] < SHRINK_FREE_PAGES,
        )
    finally:
        pruner.cancel()
    assert grown > 3000
    assert shrunk[0] < grown // 2
    await pipeline.close()


async def test_a_file_from_before_shrinking_gets_it_when_empty(engine: AsyncEngine, settings: Settings) -> None:
    path = inbox_file_path(engine)
    assert path is not None
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    with closing(sqlite3.connect(path)) as old:  # as an earlier eventeye created it: no auto_vacuum
        old.execute(
            "CREATE TABLE inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, module TEXT NOT NULL,"
            " type TEXT NOT NULL, source TEXT NOT NULL, received_at TEXT NOT NULL, body BLOB NOT NULL)"
        )
        old.execute("CREATE TABLE identity (id TEXT NOT NULL)")
        old.execute("INSERT INTO identity VALUES ('old')")
        old.execute("PRAGMA user_version = 1")
        old.commit()
    pipeline, inbox = new_pipeline(engine, settings)
    assert await inbox.file.identity() == "old"
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    await pipeline.close()
