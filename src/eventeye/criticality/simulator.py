"""Producer and consumer apps run against a server: a demo of ``/secapp/update`` and a stress tool.

Producers post random statuses (some of them late, with an older
``Change_at``); consumers poll. At the end every consumer polls once more
and the report says whether each was told the latest state, and whether any
was told a state twice.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

PATH = "/secapp/update"


@dataclass(frozen=True, slots=True)
class Plan:
    """What to simulate."""

    url: str
    token: str
    producers: int
    consumers: int
    duration: float
    post_interval: float = 1.0
    poll_interval: float = 0.5
    late_ratio: float = 0.1
    status_min: int = 1
    status_max: int = 5
    prefix: str = field(default_factory=lambda: secrets.token_hex(3))
    seed: int | None = None


@dataclass
class Producer:
    name: str
    posted: list[tuple[datetime, int, int]] = field(default_factory=list)
    """(Change_at, processed_id, status) of each accepted change."""
    errors: int = 0


@dataclass
class Consumer:
    name: str
    polls: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    errors: int = 0


@dataclass
class Latencies:
    posts: list[float] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)


def _jitter(rng: random.Random, interval: float) -> float:
    return interval * rng.uniform(0.5, 1.5)


async def _produce(http: httpx.AsyncClient, plan: Plan, me: Producer, stop: float, seen: Latencies) -> None:
    rng = random.Random(None if plan.seed is None else f"{plan.seed}-{me.name}")
    while time.monotonic() < stop:
        change_at = datetime.now(UTC)
        if rng.random() < plan.late_ratio:
            change_at -= timedelta(seconds=rng.uniform(1, 600))
        status = rng.randint(plan.status_min, plan.status_max)
        body = {"current_status": status, "Change_at": change_at.isoformat().replace("+00:00", "Z")}
        started = time.perf_counter()
        try:
            response = await http.post(PATH, json=body, headers={"App-name": me.name, "token": plan.token})
            seen.posts.append(time.perf_counter() - started)
            response.raise_for_status()
            me.posted.append((change_at, int(response.json()["processed_id"]), status))
        except (httpx.HTTPError, ValueError, KeyError):
            me.errors += 1
        await asyncio.sleep(_jitter(rng, plan.post_interval))


async def _poll_once(http: httpx.AsyncClient, plan: Plan, me: Consumer, seen: Latencies) -> None:
    started = time.perf_counter()
    try:
        response = await http.get(PATH, headers={"App-name": me.name, "token": plan.token})
        seen.polls.append(time.perf_counter() - started)
        response.raise_for_status()
        me.polls += 1
        state = response.json()
        if state:
            me.received.append(state)
    except (httpx.HTTPError, ValueError):
        me.errors += 1


async def _consume(http: httpx.AsyncClient, plan: Plan, me: Consumer, stop: float, seen: Latencies) -> None:
    rng = random.Random(None if plan.seed is None else f"{plan.seed}-{me.name}")
    while time.monotonic() < stop:
        await _poll_once(http, plan, me, seen)
        await asyncio.sleep(_jitter(rng, plan.poll_interval))


async def simulate(plan: Plan) -> dict[str, Any]:
    """Run ``plan`` for its duration and return the report."""
    producers = [Producer(f"sim-{plan.prefix}-producer-{n}") for n in range(plan.producers)]
    consumers = [Consumer(f"sim-{plan.prefix}-consumer-{n}") for n in range(plan.consumers)]
    seen = Latencies()
    limits = httpx.Limits(max_connections=plan.producers + plan.consumers)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=plan.url, limits=limits, timeout=10) as http:
        stop = started + plan.duration
        await asyncio.gather(
            *(_produce(http, plan, p, stop, seen) for p in producers),
            *(_consume(http, plan, c, stop, seen) for c in consumers),
        )
        # One last poll each, so that every consumer can catch up with the final state.
        await asyncio.gather(*(_poll_once(http, plan, c, seen) for c in consumers))
    return report(producers, consumers, seen, elapsed=time.monotonic() - started)


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 2)


def _consumer_report(consumer: Consumer, latest_id: int | None) -> dict[str, Any]:
    ids = [state["status_change_id"] for state in consumer.received]
    instants = [state["Change_at"] for state in consumer.received]
    return {
        "name": consumer.name,
        "polls": consumer.polls,
        "errors": consumer.errors,
        "status_change_ids": ids,
        "last_state": consumer.received[-1] if consumer.received else None,
        "told_twice": sorted({i for i in ids if ids.count(i) > 1}),
        "in_order": instants == sorted(instants),
        "up_to_date": latest_id is None or (bool(ids) and ids[-1] == latest_id),
    }


def report(producers: list[Producer], consumers: list[Consumer], seen: Latencies, *, elapsed: float) -> dict[str, Any]:
    """What each app did and saw, with the checks of exactly-once delivery."""
    posted = [change for producer in producers for change in producer.posted]
    latest = max(posted, default=None, key=lambda change: (change[0], change[1]))
    latest_id = latest[1] if latest else None
    consumer_reports = [_consumer_report(c, latest_id) for c in consumers]
    ok = all(c["up_to_date"] and not c["told_twice"] and c["in_order"] for c in consumer_reports)
    return {
        "ok": ok,
        "elapsed_seconds": round(elapsed, 2),
        "latest": {"status_change_id": latest[1], "current_status": latest[2]} if latest else None,
        "posts": {
            "count": len(seen.posts),
            "p50_ms": _percentile(seen.posts, 0.5),
            "p99_ms": _percentile(seen.posts, 0.99),
        },
        "polls": {
            "count": len(seen.polls),
            "p50_ms": _percentile(seen.polls, 0.5),
            "p99_ms": _percentile(seen.polls, 0.99),
        },
        "producers": [{"name": p.name, "posted": len(p.posted), "errors": p.errors} for p in producers],
        "consumers": consumer_reports,
    }
