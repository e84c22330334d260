"""Alert latency of the vehicles module: from producing a suspicious detection to its SSE frame on ``/alerts``.

    .venv/bin/python bench/vehicles_alerts.py                         # PostgreSQL, one `eventeye serve`
    .venv/bin/python bench/vehicles_alerts.py --topology split        # `eventeye api` + `eventeye worker`
    .venv/bin/python bench/vehicles_alerts.py --backend sqlite --seconds 20 --background 2000

A tansu broker, a fresh database and real eventeye processes. A client
stays connected to ``GET /alerts`` while ``--background`` ordinary
detections/s flow into the topic; every ``--every`` seconds one SUV (a
probe, numbered in its Model) is published. Each probe's latency runs from
just before it is handed to the producer (so it includes the broker's
acknowledgement) to the moment its frame arrives on the stream. Probes that
never arrive are counted as lost. Measuring starts once a first probe came
through (the worker has joined its consumer group).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).parent))

from eventeye.core.bus import Message  # noqa: E402
from eventeye.vehicles.simulator import detections  # noqa: E402
from vehicles_support import broker as tansu  # noqa: E402
from vehicles_support import bus, environment, eventeye, free_port, machine, migrate, scratch_database  # noqa: E402

PASSWORD = "benchmark password"


@contextmanager
def processes(topology: str, env: dict[str, str], directory: Path) -> Iterator[str]:
    """The server URL of ``serve``, or of ``api`` with a separate ``worker``."""
    with ExitStack() as stack:
        if topology == "serve":
            yield stack.enter_context(eventeye("serve", env, directory / "serve.log", free_port())).url
            return
        url = stack.enter_context(eventeye("api", env, directory / "api.log", free_port())).url
        stack.enter_context(eventeye("worker", env, directory / "worker.log"))
        yield url


async def login(http: httpx.AsyncClient) -> dict[str, str]:
    created = await http.post("/users", json={"username": "bench", "password": PASSWORD})
    created.raise_for_status()
    token = await http.post("/login", data={"username": "bench", "password": PASSWORD})
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def listen(
    http: httpx.AsyncClient, headers: dict[str, str], arrived: dict[int, float], ready: asyncio.Event
) -> None:
    async with http.stream("GET", "/alerts", headers=headers, timeout=None) as response:
        response.raise_for_status()
        ready.set()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                alert = orjson.loads(line[5:])
                if alert.get("Make") == "Probe":
                    arrived.setdefault(int(alert["Model"]), time.perf_counter())


async def background(env: dict[str, str], rate: float, stop: asyncio.Event) -> None:
    """Ordinary (never suspicious) detections at ``rate``/s, in ticks of 20 ms."""
    topic = env["EVENTEYE_VEHICLES_DETECTIONS_TOPIC"]
    sample = (item for item in detections(random.Random(3)) if item["Category"] != "SUV")
    started, sent = time.monotonic(), 0
    async with bus(env).publisher() as publisher:
        while not stop.is_set():
            due = int(rate * (time.monotonic() - started)) - sent
            if due > 0:
                await publisher.publish_many(Message(topic, orjson.dumps(next(sample))) for _ in range(due))
                sent += due
            await asyncio.sleep(0.02)


async def warm_up(env: dict[str, str], arrived: dict[int, float], within: float = 120) -> None:
    """Until a first probe (numbered -1) comes through: the worker has joined its group and is reading."""
    topic = env["EVENTEYE_VEHICLES_DETECTIONS_TOPIC"]
    body = orjson.dumps({"Year": 2020, "Make": "Probe", "Model": "-1", "Category": "SUV"})
    async with bus(env).publisher() as publisher:
        await publisher.publish(topic, body)
    deadline = time.monotonic() + within
    while -1 not in arrived:
        if time.monotonic() > deadline:
            raise SystemExit(f"no alert came through within {within}s")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)


async def probe(env: dict[str, str], args: argparse.Namespace, sent: dict[int, float]) -> None:
    topic = env["EVENTEYE_VEHICLES_DETECTIONS_TOPIC"]
    count = int(args.seconds / args.every)
    async with bus(env).publisher() as publisher:
        for n in range(count):
            body = orjson.dumps({"Year": 2020, "Make": "Probe", "Model": str(n), "Category": "SUV"})
            sent[n] = time.perf_counter()
            await publisher.publish(topic, body)
            await asyncio.sleep(args.every)


async def measure(url: str, env: dict[str, str], args: argparse.Namespace) -> str:
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    stop, ready = asyncio.Event(), asyncio.Event()
    await bus(env).ensure_topics([env["EVENTEYE_VEHICLES_DETECTIONS_TOPIC"]], partitions=6)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        headers = await login(http)
        listener = asyncio.create_task(listen(http, headers, arrived, ready))
        await asyncio.wait_for(ready.wait(), 30)
        load = asyncio.create_task(background(env, args.background, stop))
        await warm_up(env, arrived)
        await probe(env, args, sent)
        await asyncio.sleep(3)
        stop.set()
        await load
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    missing = sorted(set(sent) - set(arrived))
    if missing:
        print(f"probes that never came: {missing[:20]}")
    latencies = sorted((arrived[n] - sent[n]) * 1000 for n in sent if n in arrived)
    if not latencies:
        raise SystemExit("no alert arrived")

    def pct(share: float) -> float:
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))]

    lost = len(sent) - len(latencies)
    return (
        f"| {args.backend} | {args.topology} | {args.background:,.0f} | {len(sent)} | {lost} | "
        f"{pct(0.5):.1f} | {pct(0.9):.1f} | {pct(0.99):.1f} | {latencies[-1]:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--topology", choices=["serve", "split"], default="serve")
    parser.add_argument("--seconds", type=float, default=30, help="how long probes are sent")
    parser.add_argument("--every", type=float, default=0.05, help="seconds between probes")
    parser.add_argument("--background", type=float, default=1000, help="ordinary detections/s meanwhile")
    parser.add_argument(
        "--fetch-max-wait",
        type=float,
        default=0.05,
        help="EVENTEYE_KAFKA_FETCH_MAX_WAIT (tansu holds a fetch that found nothing this long, data or not)",
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        with tansu(directory) as servers, scratch_database(args.backend, directory) as database_url:
            env = environment(
                database_url, directory / "data", servers, EVENTEYE_KAFKA_FETCH_MAX_WAIT=str(args.fetch_max_wait)
            )
            migrate(env)
            with processes(args.topology, env, directory) as url:
                row = asyncio.run(measure(url, env, args))
    print("| backend | processes | background/s | probes | lost | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row)


if __name__ == "__main__":
    main()
