"""Periods over 1,000,000 detections of one camera: eventeye's query against a plain LAG gaps-and-islands query.

    .venv/bin/python bench/activity_periods.py [--rows 1000000] [--repeat 7] [--explain] [--skip-sqlite]

Loads ``--rows`` detections of one camera twice into a scratch PostgreSQL
database (and SQLite): ``bursty`` (busy spells of 5-100 detections, quiet
minutes between: about 1 detection in 10 opens or closes a period) and
``scattered`` (about 2 in 3 do: the worst case for the stored boundaries).
Then, over each camera's whole history, times (median of ``--repeat``):

- ``eventeye (stored)``: the default-gap query, reading the boundaries kept at ingestion;
- ``eventeye (computed)``: the query for any other gap (one LAG/LEAD pass), here with 60 s;
- ``LAG baseline``: LAG to mark new periods, a running SUM to number them, GROUP BY;
- ``GET /v1/activity/periods``: the stored query through a real server (JSON included).

All of them must return the same periods.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from activity_support import PG_DEFAULT, load_file, migrate, postgres_database, server, write_detections
from eventeye.activity import repository as activity_repository
from eventeye.activity.periods import DEFAULT_GAP_US
from eventeye.core.storage.engine import create_engine

LAG_BASELINE = text(
    """
    WITH marked AS (
        SELECT grp, time_us,
               CASE WHEN time_us - LAG(time_us) OVER (PARTITION BY grp ORDER BY time_us) < :gap
                    THEN 0 ELSE 1 END AS opens
        FROM activity_detections WHERE camera_id = :camera
    ), numbered AS (
        SELECT grp, time_us,
               SUM(opens) OVER (PARTITION BY grp ORDER BY time_us ROWS UNBOUNDED PRECEDING) AS period
        FROM marked
    )
    SELECT grp, MIN(time_us) AS start_us, MAX(time_us) AS end_us
    FROM numbered GROUP BY grp, period ORDER BY grp, start_us
    """
)
Periods = list[tuple[int, int, int]]


async def ours(engine: AsyncEngine, camera: str, *, stored: bool) -> Periods:
    async with engine.connect() as conn:
        return await activity_repository.find_periods(
            conn, camera_id=camera, start=None, end=None, gap=DEFAULT_GAP_US, stored=stored
        )


async def baseline(engine: AsyncEngine, camera: str) -> Periods:
    async with engine.connect() as conn:
        rows = await conn.execute(LAG_BASELINE, {"gap": DEFAULT_GAP_US, "camera": camera})
        return [(row.grp, row.start_us, row.end_us) for row in rows]


async def timed(runs: dict[str, Callable[[], Awaitable[Periods]]], repeat: int) -> dict[str, tuple[float, Periods]]:
    """Median time and result of each run; the runs take turns, so that they share the machine's moods."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, Periods] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.perf_counter()
            results[name] = await run()
            samples[name].append(time.perf_counter() - started)
    return {name: (statistics.median(samples[name]), results[name]) for name in runs}


async def compare(engine: AsyncEngine, camera: str, repeat: int) -> Periods:
    found = await timed(
        {
            "stored": lambda: ours(engine, camera, stored=True),
            "computed": lambda: ours(engine, camera, stored=False),
            "lag": lambda: baseline(engine, camera),
        },
        repeat,
    )
    (stored_s, stored), (computed_s, computed), (lag_s, lagged) = found["stored"], found["computed"], found["lag"]
    assert stored == computed == lagged, "the queries disagree"
    print(f"    {len(stored):,} periods")
    print(f"    eventeye (stored)    {stored_s * 1000:8.0f} ms   {lag_s / stored_s:5.1f}x faster than LAG")
    print(f"    eventeye (computed)  {computed_s * 1000:8.0f} ms   {lag_s / computed_s:5.1f}x faster than LAG")
    print(f"    LAG baseline         {lag_s * 1000:8.0f} ms", flush=True)
    return stored


async def explain(engine: AsyncEngine, camera: str) -> None:
    statement, params = activity_repository.periods_statement(
        camera_id=camera, start=None, end=None, gap=DEFAULT_GAP_US, stored=True
    )
    compiled = statement.params(**params).compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
    for name, sql in (("eventeye (stored)", str(compiled)), ("LAG baseline", str(LAG_BASELINE))):
        sql = sql.replace(":gap", str(DEFAULT_GAP_US)).replace(":camera", f"'{camera}'")
        async with engine.connect() as conn:
            plan = await conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"))
            print(f"\n-- {name}\n" + "\n".join(row[0] for row in plan))


def over_http(base: str, headers: dict[str, str], camera: str, repeat: int, expected: int) -> float:
    samples = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for _ in range(repeat):
            started = time.perf_counter()
            response = http.get("/v1/activity/periods", params={"camera_id": camera})
            samples.append(time.perf_counter() - started)
            response.raise_for_status()
            body = response.json()
            assert len(body["people"]) + len(body["vehicles"]) == expected
    return statistics.median(samples)


async def run_backend(name: str, url: str, files: dict[str, Path], args: argparse.Namespace, tmp: Path) -> None:
    engine = create_engine(url)
    try:
        for profile, path in files.items():
            started = time.perf_counter()
            stored = await load_file(url, path)
            print(f"{name}: {profile}: {stored:,} detections loaded in {time.perf_counter() - started:.1f} s")
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE activity_detections"))
        for profile in files:
            print(f"  {profile}")
            periods = await compare(engine, f"{profile}-0", args.repeat)
            if engine.dialect.name == "postgresql":
                with server(url, tmp / "data") as (base, headers, _):
                    seconds = over_http(base, headers, f"{profile}-0", args.repeat, len(periods))
                print(f"    GET /v1/activity/periods {seconds * 1000:4.0f} ms (real server, JSON included)")
        if args.explain and engine.dialect.name == "postgresql":
            await explain(engine, "bursty-0")
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pg", default=PG_DEFAULT)
    parser.add_argument("--explain", action="store_true", help="Print EXPLAIN ANALYZE of both queries (PostgreSQL)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        files = {profile: tmp / f"{profile}.csv" for profile in ("bursty", "scattered")}
        for profile, path in files.items():
            write_detections(path, args.rows, cameras=1, profile=profile, name=profile)
        async with postgres_database(args.pg) as url:
            await run_backend("PostgreSQL", url.replace("postgresql://", "postgresql+asyncpg://"), files, args, tmp)
        if not args.skip_sqlite:
            sqlite = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
            await migrate(sqlite)
            await run_backend("SQLite", sqlite, files, args, tmp)


if __name__ == "__main__":
    asyncio.run(main())
