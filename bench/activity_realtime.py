"""The real-time path: latency of ``POST /v1/activity/detections`` with one or a few detections, against a real server.

    .venv/bin/python bench/activity_realtime.py [--calls 2000] [--batch 1] [--split] [--inbox-max-wait S] [--pg URL]

Starts ``eventeye serve`` (``--split``: ``eventeye api`` and ``eventeye
worker``) on 127.0.0.1 over a scratch PostgreSQL database (and then over
SQLite), and posts ``--calls`` requests one after the other
from one keep-alive client, each with ``--batch`` detections of one camera
30 s apart, as a camera would (only faster). Reports the call latency
(answer once durable in the inbox), the server's CPU time per call (accepting
and processing: the whole cost of a detection), and checks that every
detection was stored.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from activity_support import PG_DEFAULT, migrate, postgres_database, server, summary
from eventeye.activity.tables import activity_detections
from eventeye.core.storage.engine import create_engine
from proc_cpu import cpu_seconds

WARMUP = 50
TYPES = ("pedestrian", "pedestrian", "bicycle", "car", "van")


def post_calls(base: str, headers: dict[str, str], calls: int, batch: int) -> list[float]:
    """Latencies of ``calls`` sequential posts (after a warm-up that is not counted)."""
    start = datetime.now(UTC) - timedelta(seconds=30 * batch * (calls + WARMUP) + 60)
    samples = []
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        for index in range(calls + WARMUP):
            body = [
                {
                    "time": (start + timedelta(seconds=30 * (index * batch + offset))).isoformat(),
                    "type": TYPES[(index + offset) % len(TYPES)],
                    "camera_id": "gate",
                }
                for offset in range(batch)
            ]
            started = time.perf_counter()
            response = http.post("/v1/activity/detections", json=body)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if index >= WARMUP:
                samples.append(elapsed)
    return samples


async def stored(url: str, expected: int) -> int:
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + 30
        while True:
            async with engine.connect() as conn:
                count = int((await conn.execute(select(func.count()).select_from(activity_detections))).scalar_one())
            if count >= expected or time.monotonic() > deadline:
                return count
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def run(name: str, url: str, args: argparse.Namespace, tmp: Path) -> None:
    env = {} if args.inbox_max_wait is None else {"EVENTEYE_INBOX_MAX_WAIT": str(args.inbox_max_wait)}
    with server(url, tmp / "data", split=args.split, **env) as (base, headers, pid):
        before = cpu_seconds(pid)
        samples = await asyncio.to_thread(post_calls, base, headers, args.calls, args.batch)
        count = await stored(url, (args.calls + WARMUP) * args.batch)
        cpu = (cpu_seconds(pid) - before) / (args.calls + WARMUP)
    what = "api process, accept only" if args.split else "accept + process"
    print(
        f"{name}: {args.batch} detection(s) per call: {summary(samples)}; "
        f"server CPU {cpu * 1000:.2f} ms per call ({what}); {count:,} detections stored",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--pg", default=PG_DEFAULT)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--split", action="store_true", help="eventeye api + eventeye worker instead of serve")
    parser.add_argument("--inbox-max-wait", type=float, help="EVENTEYE_INBOX_MAX_WAIT for the server, in seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        async with postgres_database(args.pg) as url:
            await run("PostgreSQL", url.replace("postgresql://", "postgresql+asyncpg://"), args, tmp)
        if not args.skip_sqlite:
            sqlite = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
            await migrate(sqlite)
            await run("SQLite", sqlite, args, tmp)


if __name__ == "__main__":
    asyncio.run(main())
