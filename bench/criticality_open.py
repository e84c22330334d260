"""Open-loop load on ``/secapp/update`` at a fixed rate, in its own process; prints one JSON object.

    .venv/bin/python bench/criticality_open.py URL TOKEN --method GET --rate 1000 --seconds 10 [--apps 50]

Requests are due on a fixed schedule whatever the answers (GETs rotate over
the consumer apps, POSTs over producer apps), sent by 64 keep-alive
connections (asyncio streams on uvloop, a few lines of HTTP/1.1, as
``ingest_paced.py``); latency counts from when a request was due, so a slow
server shows up as latency, not as a lower rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).parent))

from ingest_paced import exchange, percentile  # noqa: E402

CONNECTIONS = 64


def request(method: str, host: str, token: str, number: int, apps: int) -> bytes:
    if method == "GET":
        app = f"consumer-{number % apps:02d}"
        return f"GET /secapp/update HTTP/1.1\r\nHost: {host}\r\nApp-name: {app}\r\ntoken: {token}\r\n\r\n".encode()
    body = json.dumps({"current_status": 1 + number % 5, "Change_at": f"2024-05-01T10:{number % 60:02d}:00Z"})
    return (
        f"POST /secapp/update HTTP/1.1\r\nHost: {host}\r\nApp-name: producer-{number % 5}\r\ntoken: {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def worker(host: str, port: int, queue: asyncio.Queue[tuple[bytes, float] | None], out: dict[str, list]) -> None:
    connection = None
    while (item := await queue.get()) is not None:
        payload, due = item
        try:
            connection = connection or await asyncio.open_connection(host, port)
            status = await exchange(*connection, payload)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            status, connection = 0, None
        out["latencies"].append(time.perf_counter() - due)
        out["statuses"].append(status)
    if connection:
        connection[1].close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    host, port = args.url.removeprefix("http://").rsplit(":", 1)
    queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
    out: dict[str, list] = {"latencies": [], "statuses": []}
    workers = [asyncio.create_task(worker(host, int(port), queue, out)) for _ in range(CONNECTIONS)]
    start = time.perf_counter() + 0.05
    total = int(args.rate * args.seconds)
    for number in range(total):
        due = start + number / args.rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((request(args.method, f"{host}:{port}", args.token, number, args.apps), due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    latencies = out["latencies"]
    return {
        "requests": len(latencies),
        "rate": round(len(latencies) / elapsed, 1),
        "errors": sum(1 for s in out["statuses"] if s != 200),
        **{f"p{p}_ms": round((percentile(latencies, p) or 0) * 1000, 2) for p in (50, 99, 100)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--method", choices=["GET", "POST"], default="GET")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--apps", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(uvloop.run(run(args))))


if __name__ == "__main__":
    main()
