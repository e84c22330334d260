"""Open-loop load at a fixed rate, in its own process: accept latency and time to queryable.

    .venv/bin/python bench/ingest_paced.py URL KEY --rate 200 --seconds 10 [--batch 1]
        [--queryable APP --database sqlite|postgresql --database-url URL_OR_PATH]

Requests are due on a fixed schedule whatever the answers, and 32 keep-alive
connections (asyncio streams on uvloop, a few lines of HTTP/1.1: cheap
enough not to be the bottleneck) send them; latency counts from when a
request was due, so a slow server shows up as latency, not as a lower rate.

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

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).parent))

from ingest_store import app_counter  # noqa: E402

COUNT_EVERY = 0.010
CONNECTIONS = 32
MAX_QUEUED = 2000


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


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One HTTP/1.1 request on a kept-alive connection; returns the status (the body is read and dropped)."""
    writer.write(request)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _worker(
    target: tuple[str, int, str], queue: asyncio.Queue[tuple[int, float] | None], run: Run, batch: int
) -> None:
    """Sends what the scheduler queues, on one keep-alive connection (reopened after an error)."""
    host, port, key = target
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while (item := await queue.get()) is not None:
        number, due = item
        body = _body(batch, number)
        head = (
            f"POST /v1/events HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            connection = connection or await asyncio.open_connection(host, port)
            status = await exchange(*connection, head.encode() + body)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            status, connection = 0, None
        run.latencies.append(time.perf_counter() - due)  # from when it was due: waiting for a connection counts
        run.statuses[status] = run.statuses.get(status, 0) + 1
        if status == 202:
            run.accepted_at.extend([time.time()] * batch)
    if connection:
        connection[1].close()


async def _send(url: str, key: str, run: Run, rate: float, seconds: float, batch: int) -> None:
    """Queue requests on a fixed schedule for ``CONNECTIONS`` workers; count what could not even be queued."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    workers = [asyncio.create_task(_worker((host, int(port), key), queue, run, batch)) for _ in range(CONNECTIONS)]
    start = time.perf_counter() + 0.05  # perf_counter: uvloop's clock has millisecond steps
    for number in range(int(rate * seconds)):
        due = start + number / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        run.max_lag = max(run.max_lag, -delay)
        if queue.qsize() >= MAX_QUEUED:
            run.skipped += 1
            continue
        queue.put_nowait((number, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    run.send_seconds = time.perf_counter() - start


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
    await _send(args.url, args.key, run, args.rate, args.seconds, args.batch)
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
    print(json.dumps(uvloop.run(paced(args))))


if __name__ == "__main__":
    main()
