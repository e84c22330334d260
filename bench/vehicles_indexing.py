"""Indexing throughput of the vehicles module: detections/s from the topic into the store, one worker.

    .venv/bin/python bench/vehicles_indexing.py                          # PostgreSQL, then SQLite
    .venv/bin/python bench/vehicles_indexing.py --backend postgresql --count 300000 --batch-size 10000

For each backend: a tansu broker and a fresh database; ``--count`` realistic
detections are published to the detections topic (6 partitions) first, then
one ``eventeye worker`` drains them. The rate is measured from the first
stored detection to the last (the group join before it is left out) by
watching the count per make from another connection; the run fails if the
store does not end with exactly ``--count`` detections. PostgreSQL gets a
database of its own on ``EVENTEYE_BENCH_DATABASE_URL``'s server (default
``postgresql://postgres@127.0.0.1:5432/postgres``), dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))

from eventeye.config import normalise_database_url  # noqa: E402
from eventeye.core.storage.engine import create_engine  # noqa: E402
from eventeye.vehicles.tables import vehicles_make_counts  # noqa: E402
from vehicles_support import (  # noqa: E402
    Process,
    broker,
    environment,
    eventeye,
    machine,
    migrate,
    preproduce,
    sample_values,
    scratch_database,
)


@dataclass
class Steady:
    """From the first stored detections to the last: when, how many, and the worker's CPU time."""

    first_at: float = 0.0
    first_count: int = 0
    first_cpu: float = 0.0
    done_at: float = 0.0
    done_cpu: float = 0.0


async def watch(database_url: str, count: int, worker: Process, within: float) -> Steady:
    """Until ``count`` are stored (exactly: more is an error)."""
    engine = create_engine(normalise_database_url(database_url), pool_size=1)
    total = select(func.coalesce(func.sum(vehicles_make_counts.c.detections), 0))
    steady = Steady()
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                stored = int((await conn.execute(total)).scalar_one())
            now, cpu = time.perf_counter(), worker.cpu_seconds()
            if stored and not steady.first_at:
                steady.first_at, steady.first_count, steady.first_cpu = now, stored, cpu
            if stored >= count:
                if stored != count:
                    raise SystemExit(f"stored {stored} detections, expected {count}")
                steady.done_at, steady.done_cpu = now, cpu
                return steady
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
    raise SystemExit(f"not every detection was stored within {within}s")


def run(backend: str, args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        with broker(directory) as servers, scratch_database(backend, directory) as url:
            env = environment(
                url,
                directory / "data",
                servers,
                EVENTEYE_PROCESSOR_BATCH_SIZE=str(args.batch_size),
                EVENTEYE_SUSPICIOUS_VEHICLE=args.suspicious,
            )
            migrate(env)
            values = sample_values(args.count)
            produced = asyncio.run(preproduce(env, values))
            print(f"{backend}: {args.count:,} detections published in {produced:.1f}s", flush=True)
            started = time.perf_counter()
            with eventeye("worker", env, directory / "worker.log") as worker:
                steady = asyncio.run(watch(url, args.count, worker, args.timeout))
            indexed = args.count - steady.first_count
            seconds = steady.done_at - steady.first_at
            rate = indexed / seconds if seconds > 0 else float("inf")
            cpu = (steady.done_cpu - steady.first_cpu) / indexed * 1e6 if indexed else 0.0
            return (
                f"| {backend} | {args.suspicious} | {args.count:,} | {args.batch_size:,} | {rate:,.0f} | "
                f"{cpu:.1f} | {args.count / (steady.done_at - started):,.0f} | {steady.done_at - started:.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--count", type=int, default=200_000, help="detections to publish and index")
    parser.add_argument("--batch-size", type=int, default=10_000, help="EVENTEYE_PROCESSOR_BATCH_SIZE of the worker")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds per backend")
    parser.add_argument(
        "--suspicious",
        default="SUV",
        help="SUSPICIOUS_VEHICLE of the worker: SUV alerts on about a third of the sample; Tank on none",
    )
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    print(f"machine: {machine()}")
    rows = [run(backend, args) for backend in backends]
    print(
        "| backend | suspicious | detections | batch | indexed/s (steady) | worker CPU µs/detection "
        "| indexed/s (with start-up) | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
