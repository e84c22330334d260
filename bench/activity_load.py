"""Bulk load of detections from a file: eventeye's loader against the raw ceilings, on one machine, in one run.

    .venv/bin/python bench/activity_load.py [--rows 1000000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

For PostgreSQL (a scratch database on the server at ``--pg``) and SQLite,
each run starts from an empty table with the same indexes:

- ``eventeye``: the loader of ``eventeye activity load`` (read + parse +
  check + sort + boundary flags + COPY / executemany), without rules;
- ``eventeye + rules``: the same with the enabled modules' rules (the
  presence alert) evaluated on every detection, as the command does;
- ``asyncpg COPY`` and ``psycopg2 execute_values`` (page size 1,000): the same
  rows, already parsed and flagged, timed around the database calls only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import psycopg2
import psycopg2.extras

from activity_support import PG_DEFAULT, bench_settings, empty, migrate, postgres_database, write_detections
from eventeye.activity import bulk
from eventeye.activity.repository import COLUMNS
from eventeye.core.storage.engine import create_engine
from eventeye.process import running

CHUNK = bulk.CHUNK_SIZE
INSERT = f"INSERT INTO activity_detections ({', '.join(COLUMNS)}) VALUES %s"


def chunks(path: Path) -> Iterator[list[tuple[str, int, int, int, bool, bool]]]:
    """The file's rows, parsed and flagged as the loader would, chunk by chunk."""
    with path.open("rb") as handle, io.TextIOWrapper(handle, newline="") as text:
        reader = bulk.file_reader(handle, text, "csv", bulk.latest_allowed(timedelta(minutes=5)))
        while (chunk := reader.next_chunk(CHUNK)) is not None:
            yield chunk.batch.rows


async def ours(url: str, path: Path, tmp: Path, *, rules: bool) -> float:
    settings = bench_settings(url, tmp / "data")
    engine = create_engine(settings.resolved_database_url)
    try:
        await empty(engine)
        async with running(settings, set(), engine=engine) as registry:
            hooks = registry.runtime.pipeline.processor.hooks if rules else []
            started = time.perf_counter()
            with path.open("rb") as handle, io.TextIOWrapper(handle, newline="") as text:
                reader = bulk.file_reader(handle, text, "csv", bulk.latest_allowed(timedelta(minutes=5)))
                report = await bulk.load(engine, reader, hooks=hooks, source="bench")
            elapsed = time.perf_counter() - started
        assert report.rejected == 0, report.problems
        return report.stored / elapsed
    finally:
        await engine.dispose()


async def asyncpg_copy(url: str, path: Path, tmp: Path) -> float:
    engine = create_engine(bench_settings(url, tmp / "data").resolved_database_url)
    await empty(engine)
    await engine.dispose()
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    spent, count = 0.0, 0
    gc.disable()
    try:
        for rows in chunks(path):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table("activity_detections", records=rows, columns=COLUMNS)
            spent += time.perf_counter() - started
            count += len(rows)
    finally:
        gc.enable()
        await conn.close()
    return count / spent


async def psycopg2_execute_values(url: str, path: Path, tmp: Path) -> float:
    engine = create_engine(bench_settings(url, tmp / "data").resolved_database_url)
    await empty(engine)
    await engine.dispose()
    conn = psycopg2.connect(url.replace("postgresql+asyncpg", "postgresql"))
    spent, count = 0.0, 0
    gc.disable()
    try:
        with conn.cursor() as cursor:
            for rows in chunks(path):
                started = time.perf_counter()
                psycopg2.extras.execute_values(cursor, INSERT, rows, page_size=1000)
                conn.commit()
                spent += time.perf_counter() - started
                count += len(rows)
    finally:
        gc.enable()
        conn.close()
    return count / spent


Run = Callable[[str, Path, Path], Awaitable[float]]


async def measure(name: str, run: Run, url: str, path: Path, tmp: Path) -> float:
    rate = await run(url, path, tmp)
    print(f"  {name:28s} {rate:>12,.0f} rows/s", flush=True)
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default=PG_DEFAULT, help="A PostgreSQL server URL (a scratch database is made there)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        path = tmp / "detections.csv"
        write_detections(path, args.rows)
        print(f"{args.rows:,} detections, {path.stat().st_size / 1e6:.0f} MB of CSV")
        async with postgres_database(args.pg) as url:
            url = url.replace("postgresql://", "postgresql+asyncpg://")
            print("PostgreSQL")
            rate = await measure("eventeye", lambda u, p, t: ours(u, p, t, rules=False), url, path, tmp)
            await measure("eventeye + rules", lambda u, p, t: ours(u, p, t, rules=True), url, path, tmp)
            copy = await measure("asyncpg COPY (parsed rows)", asyncpg_copy, url, path, tmp)
            values = await measure("psycopg2 execute_values", psycopg2_execute_values, url, path, tmp)
            print(f"  eventeye / execute_values = {rate / values:.2f}x; eventeye / COPY = {rate / copy:.2f}x")
        if not args.skip_sqlite:
            print("SQLite")
            sqlite = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
            await migrate(sqlite)
            await measure("eventeye", lambda u, p, t: ours(u, p, t, rules=False), sqlite, path, tmp)
            await measure("eventeye + rules", lambda u, p, t: ours(u, p, t, rules=True), sqlite, path, tmp)


if __name__ == "__main__":
    asyncio.run(main())
