"""`/search` throughput and latency against a real server with 10,000 plans, idle and during a sync.

    .venv/bin/python bench/plans_search.py [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

1. A feed of 5,000 base events x 2 events x 100 zones (10,000 plans, ~85 MB)
   is served by a separate ``http.server`` process and synced with
   `eventeye plans sync`.
2. The API runs as `eventeye api` does (uvicorn, ``--workers`` processes) with
   two extra routes answering a precomputed body of the size of a typical
   `/search` answer through the same middleware (``bench/plans_app.py``):
   ``/bench/bare`` first in the routing table (the app's ceiling) and
   ``/bench/bare-here`` where `/search` is (the same route matching).
3. ``wrk`` (C, one thread, keep-alive) cycles through 200 one-day windows
   (``starts_at``/``ends_at``, ~14 plans, ~2.7 kB each); rounds alternate
   bare / bare-here / search so that all see the same machine.
4. Then ``--syncs`` more runs of `eventeye plans sync`, one after the other,
   alternating two feeds (every price changes each time, so the catalogue
   and its data version change when each completes), each in its own process
   (at ``--parser-nice`` and in the idle scheduling class, as
   ``EVENTEYE_PLANS_SYNC_NICE`` and ``EVENTEYE_PLANS_SYNC_IDLE`` set it); wrk
   measures `/search` during each, from when the sync process, started up,
   has lowered its priority; afterwards the answers must show the new prices
   (the cache followed the sync). Just before each sync, wrk measures
   `/search` once more, so that each sync's run has an idle one beside it on
   the same machine; the comparison is between these (medians: a single 5 s
   run's rate varies by 10% and its p99 by a factor of 2 to 3 here).

Besides rate and latency, each run reports the CPU time the server's
processes and wrk spent per request (from /proc and getrusage), and the rate
that CPU cost allows on this machine's cores, ``cores / (server + wrk CPU per
request)``: on a shared machine the measured rate depends on what else runs,
the CPU cost per request much less.

Needs ``wrk`` (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from plans_feed import START, write_feed
from plans_support import (
    SyncResult,
    environment,
    finish_sync,
    free_port,
    migrate,
    provider,
    scratch_database,
    start_sync,
    sync,
    wait_for,
)
from proc_cpu import group_cpu_seconds

BENCH_DIR = Path(__file__).resolve().parent
WINDOWS = 200
BARE_FIRST = "bare, first route"
BARE_HERE = "bare, at /search's place"
SEARCH = "/search"
SEARCH_BESIDE = "/search just before each sync"
Window = tuple[float, float]
LUA = r"""
local pool = {}
local index = 0
for path in io.lines(os.getenv("BENCH_PATHS")) do pool[#pool + 1] = wrk.format("GET", path) end

function request()
  index = index % #pool + 1
  return pool[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Load:
    label: str
    requests: int
    non_2xx: int
    socket_errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    wrk_cpu_s: float

    @property
    def server_us(self) -> float:
        """Server CPU per request: what the rate would be bound by if the machine were not shared."""
        return self.server_cpu_s / self.requests * 1e6

    @property
    def wrk_us(self) -> float:
        return self.wrk_cpu_s / self.requests * 1e6

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(
    base: str, paths: list[str], label: str, *, duration: int, connections: int, scratch: Path, server: int
) -> Load:
    """One closed-loop wrk run over ``paths``, with the CPU the server (process group) and wrk used."""
    script, listing = scratch / "bench.lua", scratch / f"paths-{len(paths)}.txt"
    script.write_text(LUA)
    listing.write_text("\n".join(paths) + "\n")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script), base]
    server_before, wrk_before = group_cpu_seconds(server), children_cpu()
    output = subprocess.run(command, env={**os.environ, "BENCH_PATHS": str(listing)}, capture_output=True, text=True)
    server_cpu, wrk_cpu = group_cpu_seconds(server) - server_before, children_cpu() - wrk_before
    line = next((x for x in output.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed:\n{output.stdout}\n{output.stderr}")
    data = json.loads(line[len("RESULT ") :])
    return Load(
        label,
        data["requests"],
        data["non_2xx"],
        data["socket_errors"],
        data["duration_us"] / 1e6,
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
        server_cpu,
        wrk_cpu,
    )


def day_windows() -> list[str]:
    paths = []
    for index in range(WINDOWS):
        start = START + timedelta(days=index * 730 // WINDOWS)
        end = start + timedelta(days=1)
        paths.append(f"/search?starts_at={start:%Y-%m-%dT%H:%M:%SZ}&ends_at={end:%Y-%m-%dT%H:%M:%SZ}")
    return paths


def start_api(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    """The API as `eventeye api --workers N` runs it, from the factory in plans_app.py."""
    code = (
        f"import uvicorn; uvicorn.run('plans_app:create', factory=True, app_dir={str(BENCH_DIR)!r}, "
        f"host='127.0.0.1', port={port}, workers={workers}, log_config=None, proxy_headers=True, "
        "timeout_graceful_shutdown=10)"
    )
    return subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)


def warm(base: str, paths: list[str]) -> list[bytes]:
    """Every query once (filling each worker's cache takes more; wrk's first second does it)."""
    bodies = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for path in paths:
            response = http.get(path)
            response.raise_for_status()
            bodies.append(response.content)
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the three idle runs")
    parser.add_argument("--syncs", type=int, default=3, help="syncs measured during (each changes every price)")
    parser.add_argument("--modules", help="EVENTEYE_MODULES of the API (default: all)")
    parser.add_argument(
        "--parser-nice", type=int, default=10, help="EVENTEYE_PLANS_SYNC_NICE of the concurrent sync (0: none)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="plans-bench-") as scratch_name:
        run(args, Path(scratch_name))


def run(args: argparse.Namespace, scratch: Path) -> None:
    write_feed(scratch / "seed.xml", base_events=5000, events=2, zones=100)
    write_feed(scratch / "changed.xml", base_events=5000, events=2, zones=100, variant=1)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start (shared machine)")
    with provider(scratch) as feeds, scratch_database(args.database_url, scratch) as database_url:
        bare_body = scratch / "bare.json"
        env = environment(database_url, scratch / "data", EVENTEYE_BENCH_BARE_BODY=str(bare_body))
        if args.modules:
            env["EVENTEYE_MODULES"] = args.modules
        if database_url.startswith("postgresql"):
            migrate(env)
        seeded = sync(env, f"{feeds}/seed.xml")
        print(f"seed: {seeded.output.splitlines()[0]}")
        port = free_port()
        server = start_api(env, port, args.workers)
        try:
            target = Target(f"http://127.0.0.1:{port}", server.pid)
            measure(args, scratch, env, target, [f"{feeds}/changed.xml", f"{feeds}/seed.xml"], bare_body)
        finally:
            os.killpg(server.pid, 15)
            server.wait(30)


@dataclass(frozen=True)
class Target:
    base: str
    pgid: int


def measure(
    args: argparse.Namespace, scratch: Path, env: dict[str, str], target: Target, feeds: list[str], bare_body: Path
) -> None:
    """Idle rounds, then ``args.syncs`` syncs alternating ``feeds`` (each differs from the other in every price)."""
    base = target.base
    wait_for(f"{base}/healthz")
    paths = day_windows()
    bodies = warm(base, paths)
    typical = sorted(bodies, key=len)[len(bodies) // 2]
    bare_body.write_bytes(typical)
    events = statistics.median(len(json.loads(b)["data"]["events"]) for b in bodies)
    print(f"queries: {len(paths)} one-day windows, median {events:.0f} plans / {len(typical)} bytes per answer")
    kwargs = {"duration": args.duration, "connections": args.connections, "scratch": scratch, "server": target.pgid}
    kinds = {BARE_FIRST: ["/bench/bare"], BARE_HERE: ["/bench/bare-here"], SEARCH: paths}
    runs: dict[str, list[Load]] = {kind: [] for kind in [*kinds, SEARCH_BESIDE]}
    for _ in range(args.rounds):
        for kind, targets in kinds.items():
            runs[kind].append(wrk(base, targets, kind, **kwargs))
    print(sharing(base))
    during: list[Load] = []
    syncs: list[tuple[SyncResult, Window]] = []
    for index in range(args.syncs):
        runs[SEARCH_BESIDE].append(wrk(base, paths, SEARCH_BESIDE, **kwargs))  # the same machine, just before
        started = time.perf_counter()
        sync_env = {**env, "EVENTEYE_PLANS_SYNC_NICE": str(args.parser_nice), "EVENTEYE_LOG_LEVEL": "INFO"}
        syncing = start_sync(sync_env, feeds[index % 2])
        window_start = wait_until_syncing(syncing.pid) - started
        during.append(wrk(base, paths, "/search during a sync", **kwargs))
        window = (window_start, time.perf_counter() - started)
        syncs.append((finish_sync(syncing, started), window))
        after = warm(base, paths)
        changed = sum(a != b for a, b in zip(after, bodies, strict=True))
        print(f"after sync {index + 1}: {changed} of {len(paths)} answers changed (the caches followed the sync)")
        bodies = after
    report(runs, during, args, syncs)


def wait_until_syncing(pid: int, timeout: float = 30.0) -> float:
    """When the sync process, past its start-up, has lowered its CPU priority (its nice or policy changed)."""
    stat = Path(f"/proc/{pid}/stat")
    before = os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            break
        if (int(fields[16]), int(fields[38])) != before:  # nice, scheduling policy (proc(5) fields 19, 41)
            return time.perf_counter()
        time.sleep(0.01)
    return time.perf_counter()


def sharing(base: str) -> str:
    """How many `/search` requests one data version read served, per worker (from its `/metrics`)."""
    seen: dict[str, str] = {}
    with httpx.Client(base_url=base, timeout=10) as http:
        for _ in range(20):
            values = {}
            for line in http.get("/metrics").text.splitlines():
                for name in ("eventeye_plans_version_reads_total", 'eventeye_plans_search_cache_total{result="hit"}'):
                    if line.startswith(name + " "):
                        values[name] = float(line.split()[-1])
            reads = values.get("eventeye_plans_version_reads_total", 0)
            hits = values.get('eventeye_plans_search_cache_total{result="hit"}', 0)
            if reads:
                seen.setdefault(f"{reads:.0f}", f"{hits / reads:.1f} requests per version read ({hits:,.0f} hits)")
    return "workers: " + "; ".join(seen.values())


def summary(label: str, loads: list[Load]) -> tuple[float, str]:
    rate = statistics.median(x.rate for x in loads)
    p50 = statistics.median(x.p50_ms for x in loads)
    p99 = statistics.median(x.p99_ms for x in loads)
    errors = sum(x.non_2xx + x.socket_errors for x in loads)
    rates = ", ".join(f"{x.rate:,.0f}" for x in loads)
    server_us = statistics.median(x.server_us for x in loads)
    wrk_us = statistics.median(x.wrk_us for x in loads)
    cpu = f"{server_us:.0f} | {wrk_us:.0f} | {(os.cpu_count() or 1) / (server_us + wrk_us) * 1e6:,.0f}"
    worst = max(x.p99_ms for x in loads)
    return rate, f"| {label} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {worst:.2f} | {errors} | {cpu} | {rates} |"


def report(
    runs: dict[str, list[Load]], during: list[Load], args: argparse.Namespace, syncs: list[tuple[SyncResult, Window]]
) -> None:
    modules = args.modules or "all modules"
    setup = f"wrk -t1 -c{args.connections} -d{args.duration}s x {args.rounds} rounds, {args.syncs} syncs"
    print(f"\n{setup}, uvicorn {args.workers} workers, {modules}")
    print(f"load average now: {os.getloadavg()[0]:.1f}\n")
    print(
        "| run | req/s (median) | p50 ms | p99 ms | worst p99 ms | errors | server CPU µs/req | wrk CPU µs/req "
        "| req/s the CPU allows | req/s of each round |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rates = {}
    for kind, loads in runs.items():
        rates[kind], row = summary(kind, loads)
        print(row)
    during_rate, row = summary("/search during a sync", during)
    print(row)
    for kind in (BARE_FIRST, BARE_HERE):
        print(f"/search / {kind}: {rates[SEARCH] / rates[kind]:.0%}")
    idle_p99 = statistics.median(x.p99_ms for x in runs[SEARCH_BESIDE])
    during_p99 = statistics.median(x.p99_ms for x in during)
    shares = f"{during_rate / rates[SEARCH_BESIDE]:.0%} of the rate, p99 {during_p99 / idle_p99:.0%}"
    print(f"during the syncs, against the runs just before each: {shares}")
    for result, (start, end) in syncs:
        inside = "inside" if result.seconds >= end else "NOT entirely inside"
        took = f"the sync (nice {args.parser_nice}, idle class) took {result.seconds:.1f}s"
        start_up = f"start-up until it lowered its priority {start:.1f}s"
        print(f"{took}; {start_up}; window {start:.1f}s to {end:.1f}s: {inside} it")
        lines = result.output.splitlines()
        yielded = [line.split("] ", 1)[-1] for line in lines if "to other work" in line]
        print(f"  sync: {lines[-1]}{'; ' + yielded[0] if yielded else ''}")


if __name__ == "__main__":
    main()
