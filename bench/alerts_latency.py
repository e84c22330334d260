"""Alert latency: event accepted (202) -> alert received on SSE clients, against real eventeye processes.

    .venv/bin/python bench/alerts_latency.py [--database postgresql|sqlite] [--events 150] [--rate 15]
                                             [--clients 1,500] [--modes serve,split]

For each mode and client count, on a fresh database: one match rule that
fires on every pageview; ``--clients`` SSE connections to
``/v1/alerts/stream`` (raw sockets, so that 500 clients cost the benchmark
little); then ``--events`` single-event POSTs at ``--rate`` per second. Each
alert's id is known in advance (it derives from rule, key and event), so
each client's arrival time is matched to the POST that caused it.

Modes: ``serve`` (one process: API, processor, hub) and ``split`` (an
``eventeye api`` holding the clients and an ``eventeye worker`` raising the
alerts: every alert crosses processes by PostgreSQL LISTEN/NOTIFY).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from alerts_support import app_key, env_for, eventeye, machine, percentile, rules_json, scratch_database  # noqa: E402
from eventeye.core.rules.engine import alert_id  # noqa: E402

RULE = {"name": "bench.pageview", "kind": "match", "module": "web", "key": ["session_id"]}
FRAME_ID = re.compile(rb"\nid: ([0-9a-f-]{36})\r?\n")
DEADLINE = 60.0


@dataclass
class Client:
    """One SSE connection over a raw socket: the arrival time of each alert id."""

    arrivals: dict[str, float] = field(default_factory=dict)

    async def run(self, url: str, headers: dict[str, str], opened: asyncio.Event) -> None:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        request = f"GET /v1/alerts/stream HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
        request += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"stream refused: {head[:200]!r}")
        opened.set()
        buffer = b""
        try:
            while chunk := await reader.read(65536):
                now = time.perf_counter()
                buffer += chunk
                end = 0
                for match in FRAME_ID.finditer(buffer):
                    self.arrivals.setdefault(match.group(1).decode(), now)
                    end = match.end()
                buffer = buffer[end:] if end else buffer[-256:]
        finally:
            writer.close()


@dataclass
class Result:
    mode: str
    clients: int
    alerts: int
    from_accept: list[float]
    from_post: list[float]
    missing: int


async def measure(mode: str, url: str, headers: dict[str, str], clients: int, events: int, rate: float) -> Result:
    readers = [Client() for _ in range(clients)]
    opened = [asyncio.Event() for _ in readers]
    tasks = [asyncio.create_task(c.run(url, headers, e)) for c, e in zip(readers, opened, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 60)
    await asyncio.sleep(1.0)
    sent: dict[str, tuple[float, float]] = {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        start = time.perf_counter()
        for index in range(events):
            session = f"s{index}"
            body = {
                "session_id": session,
                "category": "page interaction",
                "name": "pageview",
                "data": {"host": "www.example.com", "path": "/"},
                "timestamp": "2024-01-01 09:15:27.243860",
            }
            posted = time.perf_counter()
            response = await http.post("/v1/events", json=body)
            accepted = time.perf_counter()
            response.raise_for_status()
            sent[str(alert_id(RULE["name"], session, response.json()["ids"][0]))] = (posted, accepted)
            await asyncio.sleep(max(0.0, start + (index + 1) / rate - time.perf_counter()))
    for _ in range(int(DEADLINE / 0.05)):
        if all(len(reader.arrivals) >= len(sent) for reader in readers):
            break
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    from_accept, from_post, missing = [], [], 0
    for reader in readers:
        for identifier, (posted, accepted) in sent.items():
            arrived = reader.arrivals.get(identifier)
            if arrived is None:
                missing += 1
                continue
            from_accept.append((arrived - accepted) * 1000)
            from_post.append((arrived - posted) * 1000)
    return Result(mode, clients, len(sent), from_accept, from_post, missing)


def run(kind: str, mode: str, clients: int, events: int, rate: float) -> Result:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        directory = Path(tmp)
        url = stack.enter_context(scratch_database(kind, directory))
        env = env_for(url, directory, EVENTEYE_RULES=rules_json([RULE]))
        log = directory / "eventeye.log"
        if mode == "serve":
            api = stack.enter_context(eventeye("serve", env, log))
        else:
            api = stack.enter_context(eventeye("api", env, log))
            stack.enter_context(eventeye("worker", env, log))
        headers = app_key(api)
        return asyncio.run(measure(mode, api, headers, clients, events, rate))


def report(kind: str, results: list[Result], args: argparse.Namespace) -> None:
    print(f"\nalert latency, {kind}, {args.events} events at {args.rate}/s; {machine()}")
    print("| mode | SSE clients | alerts x clients | p50 ms | p99 ms | max ms | p99 from POST start ms | missing |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if not r.from_accept:
            print(f"| {r.mode} | {r.clients} | 0 | - | - | - | - | {r.missing} |")
            continue
        print(
            f"| {r.mode} | {r.clients} | {len(r.from_accept)} | {percentile(r.from_accept, 0.5):.1f} | "
            f"{percentile(r.from_accept, 0.99):.1f} | {max(r.from_accept):.1f} | "
            f"{percentile(r.from_post, 0.99):.1f} | {r.missing} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--events", type=int, default=150)
    parser.add_argument("--rate", type=float, default=15.0)
    parser.add_argument("--clients", default="1,500")
    parser.add_argument("--modes", default="serve,split")
    args = parser.parse_args()
    modes = [mode for mode in args.modes.split(",") if mode]
    if args.database == "sqlite" and "split" in modes:
        modes.remove("split")  # on SQLite one process raises and serves the alerts
    results = []
    for mode in modes:
        for clients in (int(count) for count in args.clients.split(",")):
            print(f"running {mode} with {clients} client(s)...", flush=True)
            results.append(run(args.database, mode, clients, args.events, args.rate))
    report(args.database, results, args)


if __name__ == "__main__":
    main()
