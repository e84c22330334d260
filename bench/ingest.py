"""Ingestion benchmark of the ``web`` module against real ``eventeye serve`` processes.

    .venv/bin/python bench/ingest.py [--database sqlite|postgresql|both] [--duration S] [--split] [--profile DIR]

For each database, on 127.0.0.1: a fresh database (SQLite in a temp dir;
PostgreSQL: a new database on postgresql://postgres@127.0.0.1:5432/), one
``eventeye serve`` process (with ``--split``: ``eventeye api`` and
``eventeye worker``, the processor in a process of its own), and a bare
FastAPI handler in its own process for comparison. Phases:

1. bare handler, single events and batches of 100 (wrk);
2. sustained batches of 100 (wrk), with the inbox backlog sampled every
   0.5 s and until it drains: accepted and processed events/s;
3. processing at a fixed 15,000 events/s (150 batches/s, open loop): does
   the backlog stay flat;
4. single-event POSTs (wrk), in three runs of half the phase's duration,
   each right after a run of the bare handler of the same length: the ratio
   to the bare handler is the median of the three pairs' ratios (how fast
   this machine runs drifts from one minute to the next; a ratio compares
   adjacent runs);
5. 200 single events/s (open loop): accept latency p50/p99 and time from
   202 to queryable (rows counted in ``web_events`` every 10 ms on a
   connection of the benchmark's own);
6. 1,000,000 events bulk-loaded into ``web_events`` (COPY / executemany,
   not through HTTP), then ``GET /v1/sessions/{id}/events`` for 200 random
   sessions of 50 events, and the same SQL alone on a connection of our own.

wrk runs with one thread; the paced phases run in a separate asyncio
process. With ``--profile DIR`` py-spy records the server (``--gil``) during
phases 2 and 4 and the top frames are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from ingest_report import print_report, profile_summary  # noqa: E402
from ingest_store import Database, bulk_load, fresh_postgres, session_query_seconds, sessions_of  # noqa: E402
from ingest_wrk import available as wrk_available  # noqa: E402
from ingest_wrk import run_wrk  # noqa: E402
from proc_cpu import cpu_seconds  # noqa: E402

HERE = Path(__file__).parent
PYTHON = sys.executable
POSTGRES = "postgresql://postgres@127.0.0.1:5432/"
ADMIN = {"username": "admin", "password": "benchmark password 1234"}
SINGLE_PAIRS = 3
KEEP_UP_RATE = 15_000
PACED_RATE = 200
BULK_EVENTS, PER_SESSION = 1_000_000, 50


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], path: str = "/healthz", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path, ready_path: str) -> Iterator[tuple[str, int]]:
    """Start a server process listening on a free port; yields its URL and pid."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([*args, "--port", str(port)], env={**os.environ, **env}, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, ready_path)
        yield url, proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def worker_process(env: dict[str, str], log: Path, *, enabled: bool) -> Iterator[int | None]:
    """``eventeye worker`` (the processor) in its own process, when ``enabled``; yields its pid."""
    if not enabled:
        yield None
        return
    with log.open("wb") as out:
        proc = subprocess.Popen([PYTHON, "-m", "eventeye", "worker"], env={**os.environ, **env}, stdout=out, stderr=out)
    try:
        yield proc.pid
    finally:
        stop(proc)


def idle_ticks() -> tuple[int, int]:
    """(idle + iowait, all) CPU ticks of the machine so far."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


@contextmanager
def cpu_used(pids: dict[str, int | None], into: dict[str, float]) -> Iterator[None]:
    """Cores each named process used meanwhile, and the machine's idle cores, written to ``into``."""
    known = {name: pid for name, pid in pids.items() if pid is not None}
    before = {name: cpu_seconds(pid) for name, pid in known.items()}
    idle_before, all_before = idle_ticks()
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    into.update({name: (cpu_seconds(pid) - before[name]) / elapsed for name, pid in known.items()})
    idle_after, all_after = idle_ticks()
    into["machine idle"] = (os.cpu_count() or 1) * (idle_after - idle_before) / max(1, all_after - all_before)


@contextmanager
def database(kind: str, directory: Path) -> Iterator[Database]:
    if kind == "sqlite":
        path = directory / "eventeye.db"
        yield Database(kind, f"sqlite:///{path}", str(path))
        return
    with fresh_postgres(POSTGRES) as url:
        yield Database(kind, url)


def eventeye_env(db: Database, directory: Path) -> dict[str, str]:
    return {
        "EVENTEYE_DATABASE_URL": db.url,
        "EVENTEYE_DATA_DIR": str(directory / "data"),
        "EVENTEYE_SECRET_KEY": "benchmark-secret-key-" + "x" * 32,
        "EVENTEYE_LOG_LEVEL": "WARNING",
    }


def make_keys(url: str) -> dict[str, str]:
    """An admin, then one app per role: bulk load (ingest), paced (ingest + read), reader (read)."""
    with httpx.Client(base_url=url, timeout=30) as http:
        http.post("/users", json=ADMIN).raise_for_status()
        token = http.post("/login", data=ADMIN).json()["access_token"]
        keys = {}
        for name, scopes in (("bench-load", ["ingest"]), ("bench-paced", ["ingest", "read"]), ("bench-read", ["read"])):
            body = {"name": name, "scopes": scopes}
            created = http.post("/v1/apps", json=body, headers={"Authorization": f"Bearer {token}"})
            created.raise_for_status()
            keys[name] = created.json()["key"]
    return keys


class Sampler:
    """Samples (seconds, inbox rows, web_events rows) every ``every`` seconds in a thread."""

    def __init__(self, db: Database, every: float = 0.5) -> None:
        self.db, self.every = db, every
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            inbox, events = self.db.counts("inbox", "web_events")
            self.samples.append((round(time.monotonic() - self._started, 2), inbox, events))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def drain(db: Database, timeout: float = 180) -> float:
    """Seconds until the inbox is empty (``timeout`` if it never is)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if db.counts("inbox")[0] == 0:
            return time.monotonic() - started
        time.sleep(0.2)
    return timeout


@contextmanager
def profiling(pid: int, out: Path | None, seconds: float) -> Iterator[None]:
    if out is None:
        yield
        return
    local = Path(PYTHON).parent / "py-spy"
    command = [
        str(local) if local.exists() else "py-spy",
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "100",
    ]
    spy = subprocess.Popen([*command, "--gil", "--format", "raw", "-o", str(out)], stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.wait(seconds + 30)


def sustained_batches(url: str, key: str, db: Database, args: argparse.Namespace, pid: int) -> dict[str, Any]:
    """Phase 2: wrk at full speed with batches of 100, then until the processor has caught up."""
    before = db.counts("web_events")[0]
    profile = args.profile / f"{db.kind}-batches.txt" if args.profile else None
    with Sampler(db) as sampler:
        with profiling(pid, profile, args.duration - 1):
            result = run_wrk(url, key=key, batch=100, seconds=args.duration, connections=args.connections)
        loaded = sampler.samples[-1][0]
        drained = drain(db)
    processed = db.counts("web_events")[0] - before
    during = [s for s in sampler.samples if s[0] <= loaded]
    return {
        "wrk": result,
        "processed_events_per_s": processed / (loaded + drained),
        "processed_during_load_per_s": (during[-1][2] - during[0][2]) / max(0.1, during[-1][0] - during[0][0]),
        "max_backlog": max(s[1] for s in sampler.samples),
        "drain_s": drained,
        "backlog": [(t, inbox) for t, inbox, _ in sampler.samples[:: max(1, len(sampler.samples) // 12)]],
        "profile": profile,
    }


def paced(url: str, key: str, *extra: str, rate: float, seconds: float) -> dict[str, Any]:
    """Run ``ingest_paced.py`` in its own process and return its JSON result."""
    command = [PYTHON, str(HERE / "ingest_paced.py"), url, key, "--rate", str(rate), "--seconds", str(seconds)]
    done = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=seconds + 120, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def keep_up(url: str, key: str, db: Database, seconds: float) -> dict[str, Any]:
    """Phase 3: 150 batches of 100 per second; the backlog must stay flat."""
    drain(db)
    with Sampler(db) as sampler:
        load = paced(url, key, "--batch", "100", rate=KEEP_UP_RATE / 100, seconds=seconds)
    samples = sampler.samples
    first, last = samples[0], samples[-1]
    return {
        "offered_events_per_s": KEEP_UP_RATE,
        "accepted_events_per_s": load["accepted_events_per_s"],
        "statuses": load["statuses"],
        "skipped": load["skipped"],
        "processed_events_per_s": (last[2] - first[2]) / max(0.1, last[0] - first[0]),
        "max_backlog": max(s[1] for s in samples),
        "final_backlog": last[1],
        "latency_ms": load["latency_ms"],
        "backlog": [(t, inbox) for t, inbox, _ in samples[:: max(1, len(samples) // 12)]],
    }


def single_posts(
    url: str, key: str, db: Database, args: argparse.Namespace, pid: int, worker: int | None, bare: str
) -> dict[str, Any]:
    """Phase 4: wrk at full speed, one event per request, each run right after one of the bare handler.

    Returns the (bare, eventeye) pairs and the cores the server's processes
    used on average during eventeye's runs.
    """
    seconds = args.duration / 2
    profile = args.profile / f"{db.kind}-single.txt" if args.profile else None
    pairs, runs_cores = [], []
    for run in range(SINGLE_PAIRS):
        drain(db)
        bare_run = run_wrk(bare, key="", batch=1, seconds=seconds, connections=args.connections)
        cores: dict[str, float] = {}
        with (
            profiling(pid, profile if run == 0 else None, seconds - 1),
            cpu_used({"server": pid, "worker": worker}, cores),
        ):
            ours = run_wrk(url, key=key, batch=1, seconds=seconds, connections=args.connections)
        pairs.append((bare_run, ours))
        runs_cores.append(cores)
    mean_cores = {name: sum(c[name] for c in runs_cores) / len(runs_cores) for name in runs_cores[0]}
    return {"pairs": pairs, "profile": profile, "cores": mean_cores}


def query_one_session(url: str, read_key: str, db: Database, events: int, samples: int = 200) -> dict[str, Any]:
    """Phase 6: bulk-load 1M events, then fetch random sessions over HTTP."""
    drain(db)
    load_s = bulk_load(db, total=events, per_session=PER_SESSION)
    stored = db.counts("web_events")[0]
    sessions = sessions_of(events, PER_SESSION)
    picks = random.Random(1).sample(sessions, samples + 20)
    latencies = []
    with httpx.Client(base_url=url, headers={"X-API-Key": read_key}, timeout=30) as http:
        for index, session in enumerate(picks):
            started = time.perf_counter()
            page = http.get(f"/v1/sessions/{session}/events")
            elapsed = time.perf_counter() - started
            if page.status_code != 200 or len(page.json()["items"]) != PER_SESSION:
                raise RuntimeError(f"session {session}: {page.status_code} {page.text[:200]}")
            if index >= 20:  # the first 20 warm the caches
                latencies.append(elapsed)
    sql = sorted(session_query_seconds(db, picks)[20:])
    latencies.sort()
    return {
        "stored": stored,
        "load_s": load_s,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
        "sql_p50_ms": sql[len(sql) // 2] * 1000,
        "sql_p99_ms": sql[int(len(sql) * 0.99) - 1] * 1000,
    }


def bench_database(kind: str, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"database": kind, "load_average_start": os.getloadavg()}
    bare_args = [PYTHON, str(HERE / "ingest_bare.py")]
    with process(bare_args, {}, directory / "bare.log", "/docs") as (bare, _), database(kind, directory) as db:
        results["bare_single"] = run_wrk(bare, key="", batch=1, seconds=args.duration, connections=args.connections)
        results["bare_batches"] = run_wrk(bare, key="", batch=100, seconds=args.duration, connections=args.connections)
        env = eventeye_env(db, directory)
        if kind == "postgresql":
            migrate = [PYTHON, "-m", "eventeye", "migrate"]
            subprocess.run(migrate, env={**os.environ, **env}, check=True, timeout=120, capture_output=True)
        command = "api" if args.split else "serve"
        serve = [PYTHON, "-m", "eventeye", command, "--host", "127.0.0.1"]
        with (
            worker_process(env, directory / f"worker-{kind}.log", enabled=args.split) as worker,
            process(serve, env, directory / f"eventeye-{kind}.log", "/healthz") as (url, pid),
        ):
            keys = make_keys(url)
            run_wrk(url, key=keys["bench-load"], batch=100, seconds=2, connections=args.connections)  # warm up
            results["batches"] = sustained_batches(url, keys["bench-load"], db, args, pid)
            results["keep_up"] = keep_up(url, keys["bench-load"], db, args.duration)
            results["single"] = single_posts(url, keys["bench-load"], db, args, pid, worker, bare)
            drain(db)
            where = db.path if kind == "sqlite" else db.url
            extra = ("--queryable", "bench-paced", "--database", kind, "--database-url", where)
            results["paced"] = paced(url, keys["bench-paced"], *extra, rate=PACED_RATE, seconds=args.duration)
            results["query"] = query_one_session(url, keys["bench-read"], db, args.events)
    results["load_average_end"] = os.getloadavg()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10, help="seconds per load phase")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--events", type=int, default=BULK_EVENTS, help="events bulk-loaded for the query phase")
    parser.add_argument("--profile", type=Path, help="directory for py-spy profiles of the server")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--split",
        action="store_true",
        help="run `eventeye api` and `eventeye worker` as two processes instead of one `eventeye serve`",
    )
    args = parser.parse_args()
    if not wrk_available():
        sys.exit("wrk is required: apt-get install -y wrk")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    everything = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"eventeye-bench-{kind}-") as directory:
            results = bench_database(kind, args, Path(directory))
        print_report(results)
        for phase in ("batches", "single"):
            if results[phase].get("profile"):
                print(profile_summary(results[phase]["profile"]))
        everything.append(results)
    if args.json:
        args.json.write_text(json.dumps(everything, default=str, indent=2))


if __name__ == "__main__":
    main()
