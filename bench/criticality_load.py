"""Load benchmark of ``/secapp/update``: GET and POST requests/s and latency, 50 consumer apps.

    .venv/bin/python bench/criticality_load.py                    # PostgreSQL on 127.0.0.1:5432
    .venv/bin/python bench/criticality_load.py --backend sqlite

Starts a real server (``eventeye serve``, criticality module only) on a fresh
database and drives it over HTTP from separate processes: ``wrk`` when it is
installed (C, cheap, so the server gets the CPU), else this process with
httpx. For each method: a closed loop (``--concurrency`` connections back to
back: the most the server does) and an open loop at ``--rate`` requests/s
(with wrk: ``bench/criticality_open.py``, a process of its own; with httpx:
this process), requests due on a fixed schedule and latency counted from
when each was due. The rate reached is reported. While GETs run, one producer posts
``--background-posts`` changes/s so that polls keep finding new states to
claim. PostgreSQL gets a database of its own (``EVENTEYE_BENCH_DATABASE_URL``
names the server), dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).parent))

from criticality_wrk import available as wrk_available  # noqa: E402
from criticality_wrk import run_wrk  # noqa: E402
from proc_cpu import group_cpu_seconds  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
Send = Callable[[httpx.AsyncClient, int], Awaitable[bool]]


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    states: int = 0
    elapsed: float = 0.0

    def row(self, name: str) -> str:
        """A markdown row without its closing CPU column."""
        ordered = sorted(self.latencies) or [0.0]

        def pct(share: float) -> float:
            return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

        rate = len(self.latencies) / self.elapsed if self.elapsed else 0.0
        return (
            f"| {name} | {len(self.latencies)} | {rate:,.0f} | {pct(0.5):.1f} | {pct(0.99):.1f} | "
            f"{ordered[-1] * 1000:.1f} | {self.errors} | {self.states} |"
        )

    @property
    def requests(self) -> int:
        return len(self.latencies)


@dataclass(frozen=True)
class Load:
    token: str
    consumers: list[str]
    producers: list[str]

    async def get(self, http: httpx.AsyncClient, n: int) -> bool:
        headers = {"App-name": self.consumers[n % len(self.consumers)], "token": self.token}
        response = await http.get("/secapp/update", headers=headers)
        response.raise_for_status()
        return response.content != b"{}"

    async def post(self, http: httpx.AsyncClient, n: int) -> bool:
        body = {"current_status": 1 + n % 5, "Change_at": datetime.now(UTC).isoformat()}
        headers = {"App-name": self.producers[n % len(self.producers)], "token": self.token}
        response = await http.post("/secapp/update", json=body, headers=headers)
        response.raise_for_status()
        return False


async def _timed(http: httpx.AsyncClient, send: Send, n: int, since: float, stats: Stats) -> None:
    try:
        if await send(http, n):
            stats.states += 1
        stats.latencies.append(time.perf_counter() - since)
    except httpx.HTTPError:
        stats.errors += 1


async def closed_loop(http: httpx.AsyncClient, send: Send, *, concurrency: int, seconds: float) -> Stats:
    """``concurrency`` callers, each sending its next request as soon as the last is answered."""
    stats = Stats()
    started = time.perf_counter()
    deadline = started + seconds
    counter = iter(range(10**9))

    async def caller() -> None:
        while time.perf_counter() < deadline:
            await _timed(http, send, next(counter), time.perf_counter(), stats)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    stats.elapsed = time.perf_counter() - started
    return stats


async def open_loop(http: httpx.AsyncClient, send: Send, *, rate: float, seconds: float) -> Stats:
    """``rate`` requests/s on a fixed schedule; latency runs from each request's scheduled time."""
    stats = Stats()
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        scheduled = started + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_timed(http, send, n, scheduled, stats))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    stats.elapsed = time.perf_counter() - started
    return stats


async def background_posts(http: httpx.AsyncClient, load: Load, rate: float, stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set() and rate > 0:
        try:
            await load.post(http, n)
        except httpx.HTTPError:
            pass
        n += 1
        await asyncio.sleep(1 / rate)


def progress(line: str) -> str:
    print(line, file=sys.stderr, flush=True)
    return line


Meter = Callable[[], float]


def with_cpu(row: str, requests: int, before: float, after: float) -> str:
    """Close ``row`` with the server's CPU milliseconds per request."""
    if not requests:
        return progress(row + " - |")
    return progress(row + f" {(after - before) / requests * 1000:.2f} |")


async def httpx_phases(url: str, load: Load, args: argparse.Namespace, meter: Meter) -> list[str]:
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    runs: list[tuple[str, Send, float | None]] = [
        (f"GET, closed loop ({args.concurrency} callers)", load.get, None),
        (f"GET, open loop at {args.rate:,.0f}/s", load.get, args.rate),
        (f"POST, closed loop ({args.concurrency} callers)", load.post, None),
        (f"POST, open loop at {args.post_rate:,.0f}/s", load.post, args.post_rate),
    ]
    rows = []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        await closed_loop(http, load.get, concurrency=args.concurrency, seconds=1)  # warm up
        for name, send, rate in runs:
            stop = asyncio.Event()
            posts = args.background_posts if send == load.get else 0
            producer = asyncio.create_task(background_posts(http, load, posts, stop))
            before = meter()
            if rate is None:
                stats = await closed_loop(http, send, concurrency=args.concurrency, seconds=args.seconds)
            else:
                stats = await open_loop(http, send, rate=rate, seconds=args.seconds)
            rows.append(with_cpu(stats.row(name), stats.requests, before, meter()))
            stop.set()
            await producer
    return rows


async def wrk_phases(url: str, load: Load, args: argparse.Namespace, meter: Meter) -> list[str]:
    """Per method: wrk's closed loop (the most the server does), then an open loop at the target rate."""
    common = {"token": load.token, "apps": len(load.consumers), "seconds": args.seconds}
    runs = [
        ("GET", f"GET, closed loop ({args.concurrency} connections)", None),
        ("GET", f"GET, open loop at {args.rate:,.0f}/s", args.rate),
        ("POST", f"POST, closed loop ({args.concurrency} connections)", None),
        ("POST", f"POST, open loop at {args.post_rate:,.0f}/s", args.post_rate),
    ]
    rows = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        await asyncio.to_thread(run_wrk, url, method="GET", connections=8, **{**common, "seconds": 2})
        for method, name, rate in runs:
            stop = asyncio.Event()
            posts = args.background_posts if method == "GET" else 0
            producer = asyncio.create_task(background_posts(http, load, posts, stop))
            before = meter()
            if rate is None:
                result = await asyncio.to_thread(run_wrk, url, method=method, connections=args.concurrency, **common)
                row, requests = result.row(name), result.requests
            else:
                row, requests = await asyncio.to_thread(open_loop_row, name, url, load, method, rate, args.seconds)
            rows.append(with_cpu(row, requests, before, meter()))
            stop.set()
            await producer
    return rows


def open_loop_row(name: str, url: str, load: Load, method: str, rate: float, seconds: float) -> tuple[str, int]:
    """``bench/criticality_open.py`` in its own process: requests due on a fixed schedule."""
    command = [sys.executable, str(Path(__file__).parent / "criticality_open.py"), url, load.token]
    options = ["--method", method, "--rate", str(rate), "--seconds", str(seconds), "--apps", str(len(load.consumers))]
    done = subprocess.run([*command, *options], capture_output=True, text=True, check=True, timeout=seconds + 120)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    row = (
        f"| {name} | {result['requests']} | {result['rate']:,.0f} | {result['p50_ms']:.1f} | "
        f"{result['p99_ms']:.1f} | {result['p100_ms']:.1f} | {result['errors']} | - |"
    )
    return row, int(result["requests"])


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    base = os.environ.get("EVENTEYE_BENCH_DATABASE_URL", PG_DEFAULT)
    name = f"eventeye_bench_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(env: dict[str, str], workers: int, log: Path) -> Iterator[tuple[str, int]]:
    """``eventeye serve`` on a free port, until the block ends."""
    port = _free_port()
    full_env = {**os.environ, **env}
    subprocess.run([sys.executable, "-m", "eventeye", "migrate"], env=full_env, check=True, capture_output=True)
    args = [sys.executable, "-m", "eventeye", "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield url, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server not ready after 60 s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--consumers", type=int, default=50, help="consumer apps polling")
    parser.add_argument("--rate", type=float, default=1000, help="GET requests/s of the open loop")
    parser.add_argument("--post-rate", type=float, default=1000, help="POST requests/s of the open loop")
    parser.add_argument("--seconds", type=float, default=10, help="length of each measured phase (max 120)")
    parser.add_argument("--concurrency", type=int, default=32, help="callers of the closed loops")
    parser.add_argument("--connections", type=int, default=64, help="HTTP connections to the server")
    parser.add_argument("--background-posts", type=float, default=10, help="changes/s posted during the GETs")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--httpx", action="store_true", help="load from this process with httpx even if wrk exists")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 120)
    return args


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the context managers: server stopped, database dropped


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args()
    load = Load(
        token=secrets.token_urlsafe(24),
        consumers=[f"consumer-{n:02d}" for n in range(args.consumers)],
        producers=[f"producer-{n}" for n in range(5)],
    )
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.backend, Path(tmp)) as database_url:
        env = {
            "EVENTEYE_DATABASE_URL": database_url,
            "EVENTEYE_DATA_DIR": tmp,
            "EVENTEYE_SECRET_KEY": secrets.token_urlsafe(48),
            "EVENTEYE_CRITICALITY_TOKEN": load.token,
            "EVENTEYE_MODULES": "criticality",
            "EVENTEYE_LOG_LEVEL": "WARNING",
        }
        with server(env, args.workers, Path(tmp) / "server.log") as (url, pid):
            load_before = os.getloadavg()[0]
            phases = wrk_phases if wrk_available() and not args.httpx else httpx_phases
            rows = asyncio.run(phases(url, load, args, lambda: group_cpu_seconds(pid)))
    client = "wrk" if wrk_available() and not args.httpx else "httpx"
    print(
        f"backend {args.backend}, {args.workers} server worker(s), {args.consumers} consumer apps, load by {client}, ",
        end="",
    )
    print(f"{os.cpu_count()} cores, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after")
    print("| phase | requests | req/s | p50 ms | p99 ms | max ms | errors | states told | server CPU ms/req |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
