"""Rule-evaluation cost: processing throughput of a real ``eventeye worker`` with 0 and with 50 active rules.

    .venv/bin/python bench/rules_cost.py [--events 40000] [--rounds 2] [--database postgresql|sqlite]

Each run, on a fresh database: an ``eventeye api`` accepts ``--events`` web
events into the inbox (sessions of 20, 200 at a time interleaved; 75%
pageviews, 20% CTA clicks, 5% form submits) and stops; then an ``eventeye
worker`` starts and drains the inbox, its backlog sampled every 50 ms:
throughput = events processed / time from the first to the last event. Runs
alternate between the configurations, ``--rounds`` times, and the best of
each is kept (the machine may be shared).

Configurations: no rules; 50 typical rules (30 ``match`` on pages, buttons,
path patterns and forms, 12 ``rate`` per app, host or session, 4
``consecutive`` bad form submits per session, 4 ``absence`` per app: see
``typical_rules``); 50 dense rules (every rule sees every event, 30 of them
keep state per session: the worst case).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

import asyncpg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from alerts_support import app_key, env_for, eventeye, machine, rules_json, scratch_database, web_event  # noqa: E402

CONCURRENT_SESSIONS, PER_SESSION = 200, 20
POST_BATCH = 500


def _rule(name: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"name": f"bench.{name}", "kind": kind, "module": "web", **fields}


def _equals(field: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": "equals", "value": value}


# Two of the pages are 0.2% of the events each; the others are not visited.
PAGES = list(enumerate(["/p/0", "/p/1"] + [f"/pricing/{i}" for i in range(18)]))
CTA, SUBMIT, PAGEVIEW = "page interaction/cta click", "form interaction/submit", "page interaction/pageview"


def typical_rules() -> list[dict[str, Any]]:
    """50 rules as a team might write them: most watch for specific things, a few keep state."""
    rules = [_rule(f"page-{i}", "match", key=["session_id"], when=[_equals("data.path", page)]) for i, page in PAGES]
    rules += [
        _rule(f"button-{i}", "match", types=[CTA], when=[_equals("data.element", f"promo-{i}")]) for i in range(5)
    ]
    rules += [
        _rule(f"path-pattern-{i}", "match", when=[{"field": "data.path", "op": "regex", "pattern": f"^/admin/{i}"}])
        for i in range(3)
    ]
    rules += [
        _rule(
            f"unnamed-submit-{i}",
            "match",
            types=[SUBMIT],
            when=[{"field": "data.form.first_name" if i else "data.form.email", "op": "exists", "negate": bool(i)}],
        )
        for i in range(2)
    ]
    rules += [_rule(f"cta-flood-{i}", "rate", key=["app"], types=[CTA], count=5000 + i, window=10) for i in range(4)]
    rules += [_rule(f"traffic-spike-{i}", "rate", key=["data.host"], count=9000 + i, window=5) for i in range(4)]
    rules += [
        _rule(f"submit-bot-{i}", "rate", key=["session_id"], types=[SUBMIT], count=20 + i, window=60) for i in range(4)
    ]
    rules += [
        _rule(
            f"bad-submits-{i}",
            "consecutive",
            key=["session_id"],
            types=[SUBMIT],
            count=3 + i,
            when=[{"field": "data.form.last_name", "op": "exists", "negate": True}],
        )
        for i in range(4)
    ]
    rules += [_rule(f"quiet-app-{i}", "absence", key=["app"], types=[PAGEVIEW], silence=600 + i) for i in range(4)]
    return rules


def dense_rules() -> list[dict[str, Any]]:
    """50 rules that all keep state per session and see every event: the worst case."""
    rules = [_rule(f"match-{i}", "match", key=["session_id"], when=[_equals("data.path", page)]) for i, page in PAGES]
    rules += [_rule(f"rate-{i}", "rate", key=["session_id"], types=[CTA], count=1000 + i, window=60) for i in range(10)]
    rules += [
        _rule(f"consecutive-{i}", "consecutive", key=["session_id"], when=[_equals("name", "pageview")], count=1000 + i)
        for i in range(10)
    ]
    rules += [_rule(f"absence-{i}", "absence", key=["app"], silence=3600 + i) for i in range(10)]
    return rules


def events(total: int) -> list[dict[str, Any]]:
    """Sessions of 20 events, 200 at a time interleaved: 75% pageviews, 20% CTA clicks, 5% form submits."""
    items = []
    for index in range(total):
        session = f"session-{index // (CONCURRENT_SESSIONS * PER_SESSION)}-{index % CONCURRENT_SESSIONS}"
        kind = index % 20
        name = "submit" if kind == 19 else "cta click" if kind >= 15 else "pageview"
        items.append(web_event(session, index, name=name))
    return items


def fill_inbox(url: str, headers: dict[str, str], items: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for start in range(0, len(items), POST_BATCH):
            http.post("/v1/events", json=items[start : start + POST_BATCH]).raise_for_status()


async def drain_time(database_url: str, total: int, deadline: float = 600) -> tuple[int, float]:
    """Sample the inbox until it is empty: (events counted from the first sample that moved, seconds)."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        first: tuple[int, float] | None = None
        stop = time.monotonic() + deadline
        while time.monotonic() < stop:
            left = int(await conn.fetchval("SELECT count(*) FROM inbox"))
            now = time.perf_counter()
            if first is None and left < total:
                first = (left, now)
            if left == 0 and first is not None:
                return first[0], now - first[1]
            await asyncio.sleep(0.05)
        raise RuntimeError("the worker did not drain the inbox in time")
    finally:
        await conn.close()


def run(kind: str, total: int, rules: list[dict[str, Any]]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with scratch_database(kind, directory) as url:
            env = env_for(url, directory, EVENTEYE_RULES=rules_json(rules), EVENTEYE_INBOX_MAX_BACKLOG="1000000")
            log = directory / "eventeye.log"
            with eventeye("api", env, log) as api:
                fill_inbox(api, app_key(api), events(total))
            with eventeye("worker", env, log):
                counted, seconds = asyncio.run(drain_time(url, total))
        return counted / seconds


CONFIGURATIONS = {"no rules": list, "50 typical rules": typical_rules, "50 dense rules": dense_rules}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database", choices=["postgresql"], default="postgresql")
    args = parser.parse_args()
    results: dict[str, list[float]] = {label: [] for label in CONFIGURATIONS}
    for round_number in range(args.rounds):
        for label, rules in CONFIGURATIONS.items():
            rate = run(args.database, args.events, rules())
            results[label].append(rate)
            print(f"round {round_number + 1}, {label}: {rate:,.0f} events/s", flush=True)
    best = {label: max(rates) for label, rates in results.items()}
    print(f"\nprocessing throughput, {args.database}, {args.events} events; {machine()}")
    print(f"| rules | events/s (best of {args.rounds}) | all runs | cost | per event |")
    print("|---|---|---|---|---|")
    for label, rates in results.items():
        cost = 1 - best[label] / best["no rules"]
        per_event = (1 / best[label] - 1 / best["no rules"]) * 1e6
        runs = ", ".join(f"{rate:,.0f}" for rate in rates)
        print(f"| {label} | {best[label]:,.0f} | {runs} | {cost:.1%} | {per_event:.1f} µs |")


if __name__ == "__main__":
    main()
