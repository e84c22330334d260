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
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))

from eventeye.config import normalise_database_url  # noqa: E402
from eventeye.core.storage.engine import create_engine  # noqa: E402
from eventeye.vehicles.tables import vehicles_make_counts  # noqa: E402
from vehicles_support import (  # noqa: E402
    broker,
    environment,
    eventeye,
    machine,
    migrate,
    preproduce,
    sample_values,
    scratch_database,
)


async def watch(database_url: str, count: int, within: float) -> tuple[float, int, float]:
    """Until ``count`` are stored: (when the first were seen, how many then, when all were)."""
    engine = create_engine(normalise_database_url(database_url), pool_size=1)
    total = select(func.coalesce(func.sum(vehicles_make_counts.c.detections), 0))
    first_at, first_count = 0.0, 0
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                stored = int((await conn.execute(total)).scalar_one())
            now = time.perf_counter()
            if stored and not first_at:
                first_at, first_count = now, stored
            if stored >= count:
                if stored != count:
                    raise SystemExit(f"stored {stored} detections, expected {count}")
                return first_at, first_count, now
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
            with eventeye("worker", env, directory / "worker.log"):
                first_at, first_count, done_at = asyncio.run(watch(url, args.count, args.timeout))
            rate = (args.count - first_count) / (done_at - first_at) if done_at > first_at else float("inf")
            overall = args.count / (done_at - started)
            return (
                f"| {backend} | {args.suspicious} | {args.count:,} | {args.batch_size:,} | {rate:,.0f} | "
                f"{overall:,.0f} | {done_at - started:.1f} |"
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
    print("| backend | suspicious | detections | batch | indexed/s (steady) | indexed/s (with start-up) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
