"""Open-loop load at a fixed rate, in its own process: accept latency and time to queryable.

    .venv/bin/python bench/ingest_paced.py URL KEY --rate 200 --seconds 10 [--batch 1] [--queryable APP]

Requests leave on a fixed schedule whatever the answers (asyncio + httpx,
keep-alive), so a slow server shows up as latency, not as a lower rate. With
``--queryable APP`` a poller asks ``/v1/events?app=APP&start=...`` every 25 ms
for events accepted but not yet seen, and records when each first appears.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

POLL_EVERY = 0.025
MAX_IN_FLIGHT = 512


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    pending: dict[str, tuple[float, str]] = field(default_factory=dict)  # id -> (accepted at, timestamp)
    queryable: list[float] = field(default_factory=list)
    skipped: int = 0
    max_lag: float = 0.0
    sending: bool = True
    send_seconds: float = 0.0  # from the first request out to the last answer in


def _events(batch: int, number: int) -> tuple[bytes, list[str]]:
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
    return orjson.dumps(events[0] if batch == 1 else events), [stamp] * batch


async def _post(http: httpx.AsyncClient, run: Run, batch: int, number: int, track: bool) -> None:
    body, stamps = _events(batch, number)
    started = time.perf_counter()
    try:
        response = await http.post("/v1/events", content=body)
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    run.latencies.append(time.perf_counter() - started)
    run.statuses[status] = run.statuses.get(status, 0) + 1
    if track and status == 202:
        accepted_at = time.time()
        for event_id, stamp in zip(response.json()["ids"], stamps, strict=True):
            run.pending[event_id] = (accepted_at, stamp)


async def _send(http: httpx.AsyncClient, run: Run, rate: float, seconds: float, batch: int, track: bool) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    start = loop.time() + 0.05
    for number in range(int(rate * seconds)):
        due = start + number / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        run.max_lag = max(run.max_lag, -delay)
        if len(tasks) >= MAX_IN_FLIGHT:
            run.skipped += 1
            continue
        task = asyncio.create_task(_post(http, run, batch, number, track))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    run.sending = False
    run.send_seconds = loop.time() - start


async def _poll(http: httpx.AsyncClient, run: Run, app: str, read_key: str, give_up_after: float) -> None:
    """Until everything accepted was seen (or ``give_up_after`` seconds after the sending stopped)."""
    stopped_at: float | None = None
    headers = {"X-API-Key": read_key}
    while True:
        if not run.sending:
            stopped_at = stopped_at or time.monotonic()
            if not run.pending or time.monotonic() - stopped_at > give_up_after:
                return
        if run.pending:
            oldest = min(stamp for _, stamp in run.pending.values())
            params = {"app": app, "order": "asc", "start": oldest, "limit": 1000}
            page = await http.get("/v1/events", params=params, headers=headers)
            seen_at = time.time()
            for item in page.json()["items"] if page.status_code == 200 else ():
                accepted = run.pending.pop(item["id"], None)
                if accepted is not None:
                    run.queryable.append(seen_at - accepted[0])
        await asyncio.sleep(POLL_EVERY)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


async def paced(args: argparse.Namespace) -> dict[str, Any]:
    run = Run()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"X-API-Key": args.key, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=args.url, headers=headers, limits=limits, timeout=30) as http:
        work = [_send(http, run, args.rate, args.seconds, args.batch, bool(args.queryable))]
        if args.queryable:
            work.append(_poll(http, run, args.queryable, args.read_key or args.key, give_up_after=15))
        started = time.perf_counter()
        await asyncio.gather(*work)
        elapsed = time.perf_counter() - started
    return {
        "requests": len(run.latencies),
        "statuses": run.statuses,
        "skipped": run.skipped,
        "max_schedule_lag_ms": _ms(run.max_lag),
        "accepted_events_per_s": round(run.statuses.get(202, 0) * args.batch / max(args.seconds, run.send_seconds), 1),
        "elapsed_s": round(elapsed, 2),
        "latency_ms": {f"p{p}": _ms(percentile(run.latencies, p)) for p in (50, 90, 99, 100)},
        "queryable_ms": {f"p{p}": _ms(percentile(run.queryable, p)) for p in (50, 90, 99, 100)},
        "queryable_seen": len(run.queryable),
        "never_seen": len(run.pending),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--queryable", metavar="APP", help="track time to queryable for events of this app")
    parser.add_argument("--read-key", help="key with the read scope (default: KEY)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(paced(args))))


if __name__ == "__main__":
    main()
