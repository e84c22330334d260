"""CPU cost per event of each step of ingestion, in process: where ``eventeye serve`` spends its time.

    .venv/bin/python bench/ingest_stages.py [--database sqlite|postgresql|both] [--events 2000]

Runs eventeye's own functions on a fresh database, one batch of ``--events``
pageview events at a time, and reports CPU microseconds per event (process
time, so the numbers hold on a busy machine; the database's own work is
included for SQLite, which runs in process, and excluded for PostgreSQL):
accept = parse + check + envelopes + inbox append; process = claim + web
handler (validate, insert events, upsert sessions) + settling the inbox (deleting
the batch, or on SQLite recording the progress, and deleting from the inbox
file after the commit as the worker's pruner does).
Median of 5 rounds, after one warm-up round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))

from eventeye.config import Settings  # noqa: E402
from eventeye.core.pipeline.envelope import new_event_id  # noqa: E402
from eventeye.core.pipeline.inbox_file import FileInbox  # noqa: E402
from eventeye.core.pipeline.processor import HandlerContext  # noqa: E402
from eventeye.core.pipeline.service import Pipeline  # noqa: E402
from eventeye.core.storage import migrations  # noqa: E402
from eventeye.core.storage.driver import DriverPool  # noqa: E402
from eventeye.core.storage.engine import create_engine, write_transaction  # noqa: E402
from eventeye.web import service as web_service  # noqa: E402
from eventeye.web.handlers import WebHandler  # noqa: E402
from eventeye.web.schemas import BUILTIN_SCHEMAS, MODULE  # noqa: E402
from ingest_store import fresh_postgres  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/"
ROUNDS = 5


def body(count: int) -> bytes:
    return orjson.dumps(
        [
            {
                "session_id": str(uuid.uuid4()),
                "category": "page interaction",
                "name": "pageview",
                "data": {"host": "www.example.com", "path": f"/p/{i}"},
                "timestamp": "2021-01-01 09:15:27.243860",
            }
            for i in range(count)
        ]
    )


class Clock:
    """CPU seconds per named step, summed over a round."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}

    def add(self, step: str, started: float) -> None:
        self.steps[step] = self.steps.get(step, 0.0) + time.process_time() - started

    def sync(self, step: str, work: Callable[[], Any]) -> Any:
        started = time.process_time()
        result = work()
        self.add(step, started)
        return result

    async def run(self, step: str, work: Awaitable[Any]) -> Any:
        started = time.process_time()
        result = await work
        self.add(step, started)
        return result


async def one_round(pipeline: Pipeline, raw: bytes, count: int) -> dict[str, float]:
    clock, engine = Clock(), pipeline.engine
    items = clock.sync("parse_body", lambda: web_service.parse_body(raw, ndjson=False, source="bench"))
    checked = clock.sync("check_items", lambda: web_service.check_items(items, source="bench", max_items=count))
    envelopes = clock.sync("to_envelopes", lambda: web_service.to_envelopes(checked, items, source="bench"))
    clock.sync("  of which new_event_id", lambda: [new_event_id() for _ in range(count)])
    inbox = pipeline.table_inbox  # the inbox table, or on SQLite the inbox file
    await clock.run("inbox append", inbox.append(envelopes))
    ctx = HandlerContext(settings=pipeline.settings, registry=pipeline.registry, now=datetime.now(UTC))
    async with write_transaction(engine) as conn:
        batch = await clock.run("claim inbox", inbox.fetch(conn, count))
        assert batch is not None
        assert len(batch.envelopes) == count
        await clock.run("web handler", WebHandler().handle(conn, batch.envelopes, ctx))
        await clock.run("settle inbox", inbox.settle(conn, batch))
    await clock.run("after commit", inbox.committed(batch))
    if isinstance(inbox, FileInbox):  # as the worker's pruner then does, apart from the batch
        await clock.run("prune inbox file", inbox.file.delete_through(batch.tokens[-1]))
    return {step: seconds * 1e6 / count for step, seconds in clock.steps.items()}


async def measure(url: str, count: int) -> dict[str, float]:
    engine = create_engine(url)
    driver = DriverPool(url, size=1) if engine.dialect.name == "postgresql" else None
    try:
        await migrations.upgrade(engine)
        settings = Settings(database_url=url, secret_key="benchmark-secret-key-" + "x" * 32)
        pipeline = Pipeline(engine, settings, driver=driver)
        for type, schema in BUILTIN_SCHEMAS.items():
            pipeline.add_event_type(MODULE, type, schema)
        writer = asyncio.create_task(pipeline.table_inbox.run_writer())
        await asyncio.sleep(0)
        rounds = [await one_round(pipeline, body(count), count) for _ in range(ROUNDS + 1)][1:]
        writer.cancel()
    finally:
        await pipeline.close()
        if driver is not None:
            await driver.close()
        await engine.dispose()
    return {step: statistics.median(r[step] for r in rounds) for step in rounds[0]}


def report(kind: str, steps: dict[str, float]) -> None:
    accept = sum(steps[s] for s in ("parse_body", "check_items", "to_envelopes", "inbox append"))
    process = sum(
        steps.get(s, 0.0) for s in ("claim inbox", "web handler", "settle inbox", "after commit", "prune inbox file")
    )
    print(f"== {kind}: CPU microseconds per event (median of {ROUNDS} rounds)")
    for step, micros in steps.items():
        print(f"  {step:26s} {micros:7.1f}")
    print(f"  accept {accept:.1f} + process {process:.1f} = {accept + process:.1f} us/event")
    print(f"  -> one core does at most {1e6 / (accept + process):,.0f} events/s accepted and processed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--events", type=int, default=2000, help="events per batch (the processor's default)")
    args = parser.parse_args()
    for kind in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        if kind == "sqlite":
            with tempfile.TemporaryDirectory() as directory:
                steps = asyncio.run(measure(f"sqlite+aiosqlite:///{directory}/stages.db", args.events))
        else:
            with fresh_postgres(POSTGRES) as url:
                steps = asyncio.run(measure(url.replace("postgresql://", "postgresql+asyncpg://"), args.events))
        report(kind, steps)


if __name__ == "__main__":
    main()
