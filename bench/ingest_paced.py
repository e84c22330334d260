"""Open-loop load at a fixed rate, in its own process: accept latency and time to queryable.

    .venv/bin/python bench/ingest_paced.py URL KEY --rate 200 --seconds 10 [--batch 1]
        [--queryable APP --database sqlite|postgresql --database-url URL_OR_PATH]

Requests leave on a fixed schedule whatever the answers (asyncio + httpx,
keep-alive), so a slow server shows up as latency, not as a lower rate.

With ``--queryable APP``, a thread counts APP's rows in ``web_events`` every
10 ms on its own connection (not through eventeye, so that measuring does not
load the server). eventeye processes its inbox in order, so the k-th event
accepted is queryable once the count reaches k; its time to queryable is
when that happened minus when its 202 arrived. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).parent))

from ingest_store import app_counter  # noqa: E402

COUNT_EVERY = 0.010
MAX_IN_FLIGHT = 512


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted_at: list[float] = field(default_factory=list)  # wall clock of each accepted event's 202
    skipped: int = 0
    max_lag: float = 0.0
    send_seconds: float = 0.0  # from the first request out to the last answer in


def _body(batch: int, number: int) -> bytes:
    stamp = datetime.now(UTC).isoformat()
    events = [
        {
            "session_id": f"paced-{number % 1000}",
            "category": "page interaction",
            "name": "pageview",
            "data": {"host": "www.example.com", "path": f"/p/{number}/{i}"},
            "timestamp": stamp,
        }
        for i in range(batch)
    ]
    return orjson.dumps(events[0] if batch == 1 else events)


async def _post(http: httpx.AsyncClient, run: Run, batch: int, number: int) -> None:
    body = _body(batch, number)
    started = time.perf_counter()
    try:
        status = (await http.post("/v1/events", content=body)).status_code
    except httpx.HTTPError:
        status = 0
    run.latencies.append(time.perf_counter() - started)
    run.statuses[status] = run.statuses.get(status, 0) + 1
    if status == 202:
        run.accepted_at.extend([time.time()] * batch)


async def _send(http: httpx.AsyncClient, run: Run, rate: float, seconds: float, batch: int) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    start = loop.time() + 0.05
    for number in range(int(rate * seconds)):
        delay = start + number / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        run.max_lag = max(run.max_lag, -delay)
        if len(tasks) >= MAX_IN_FLIGHT:
            run.skipped += 1
            continue
        task = asyncio.create_task(_post(http, run, batch, number))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    run.send_seconds = loop.time() - start


class Counter:
    """Samples (wall time, count) of an app's stored events in a thread."""

    def __init__(self, kind: str, url: str, app: str) -> None:
        self.kind, self.url, self.app = kind, url, app
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with app_counter(self.kind, self.url, self.app) as count:
            while not self.stop.is_set():
                self.samples.append((time.time(), count()))
                self.stop.wait(COUNT_EVERY)

    def visible_at(self, rank: int) -> float | None:
        """When at least ``rank`` events were stored (first sample), or None."""
        counts = [c for _, c in self.samples]
        index = bisect.bisect_left(counts, rank)
        return self.samples[index][0] if index < len(self.samples) else None


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def _queryable(run: Run, counter: Counter, expected: int, give_up_after: float = 30) -> tuple[list[float], int]:
    deadline = time.monotonic() + give_up_after
    while (not counter.samples or counter.samples[-1][1] < expected) and time.monotonic() < deadline:
        time.sleep(COUNT_EVERY)
    counter.stop.set()
    counter.thread.join()
    delays, unseen = [], 0
    for rank, accepted in enumerate(sorted(run.accepted_at), start=1):
        seen = counter.visible_at(rank)
        if seen is None:
            unseen += 1
        else:
            delays.append(max(0.0, seen - accepted))
    return delays, unseen


async def paced(args: argparse.Namespace) -> dict[str, Any]:
    run = Run()
    counter = Counter(args.database, args.database_url, args.queryable) if args.queryable else None
    if counter:
        counter.thread.start()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"X-API-Key": args.key, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=args.url, headers=headers, limits=limits, timeout=30) as http:
        await _send(http, run, args.rate, args.seconds, args.batch)
    delays, unseen = await asyncio.to_thread(_queryable, run, counter, len(run.accepted_at)) if counter else ([], 0)
    return {
        "requests": len(run.latencies),
        "statuses": run.statuses,
        "skipped": run.skipped,
        "max_schedule_lag_ms": _ms(run.max_lag),
        "accepted_events_per_s": round(len(run.accepted_at) / max(args.seconds, run.send_seconds), 1),
        "latency_ms": {f"p{p}": _ms(percentile(run.latencies, p)) for p in (50, 90, 99, 100)},
        "queryable_ms": {f"p{p}": _ms(percentile(delays, p)) for p in (50, 90, 99, 100)},
        "never_seen": unseen,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--queryable", metavar="APP", help="measure time to queryable for this app's events")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", help="the SQLite file, or the PostgreSQL URL")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(paced(args))))


if __name__ == "__main__":
    main()
