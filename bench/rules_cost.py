"""Rule-evaluation cost: processing of a real eventeye process with no rules and with 50 active rules.

    .venv/bin/python bench/rules_cost.py [--events 30000] [--rounds 3] [--configurations modules,typical,dense]

Each run, on a fresh PostgreSQL database: an ``eventeye api`` accepts
``--events`` web events into the inbox (sessions of 20, 200 at a time
interleaved; 75% pageviews, 20% CTA clicks, 5% form submits) and stops; then
an ``eventeye serve`` starts and drains the inbox, its backlog sampled every
50 ms. Three measures, because the machine may be shared and busy:
throughput (events / time from the first to the last event); CPU time per
event of that process and of its PostgreSQL server processes; and, from the
process's own metrics, the share of batch processing time spent in the rules
(``eventeye_rules_evaluation_seconds`` over
``eventeye_processor_batch_seconds``), which both load alike. Runs alternate
between the configurations, ``--rounds`` times.

Configurations: no rules; 50 rules over the five modules, 10 of them on
web events (the others are never reached by them); 50 typical web rules (30
``match`` on pages, buttons, path patterns and forms, 12 ``rate`` per app,
host or session, 4 ``consecutive`` bad form submits per session, 4
``absence`` per app: see ``typical_rules``); 50 dense web rules (every rule
sees every event, 30 of them keep state per session: the worst case).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

import asyncpg  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from alerts_support import (  # noqa: E402
    app_key,
    env_for,
    eventeye,
    machine,
    rules_json,
    scratch_database,
    web_event,
)
from proc_cpu import cpu_seconds  # noqa: E402

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


async def backends(conn: asyncpg.Connection) -> list[int]:
    """The server processes of eventeye's database connections."""
    rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = 'eventeye'")
    return [int(row["pid"]) for row in rows]


@dataclass
class Drain:
    events: int
    seconds: float
    cpu: float
    """CPU seconds of the processor and of its database server processes while it drained the inbox."""
    share: float = 0.0
    """Of the time the processor spent on batches, the part the rules took (its own metrics)."""


async def drain(database_url: str, total: int, worker: int, deadline: float = 600) -> Drain:
    """Sample the inbox until it is empty, from the first sample that moved: events, seconds, CPU."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        first: tuple[int, float, dict[int, float]] | None = None
        stop = time.monotonic() + deadline
        while time.monotonic() < stop:
            left = int(await conn.fetchval("SELECT count(*) FROM inbox"))
            now = time.perf_counter()
            if first is None and left < total:
                first = (left, now, {pid: cpu_seconds(pid) for pid in [worker, *await backends(conn)]})
            if left == 0 and first is not None:
                used = {pid: cpu_seconds(pid) for pid in [worker, *await backends(conn)]}
                cpu = sum(seconds - first[2].get(pid, 0.0) for pid, seconds in used.items())
                return Drain(first[0], now - first[1], cpu)
            await asyncio.sleep(0.05)
        raise RuntimeError("the worker did not drain the inbox in time")
    finally:
        await conn.close()


def run(kind: str, total: int, rules: list[dict[str, Any]]) -> Drain:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with scratch_database(kind, directory) as url:
            env = env_for(url, directory, EVENTEYE_RULES=rules_json(rules), EVENTEYE_INBOX_MAX_BACKLOG="1000000")
            log = directory / "eventeye.log"
            with eventeye("api", env, log) as api:
                fill_inbox(api, app_key(api), events(total))
            pids: list[int] = []
            with eventeye("serve", env, log, pids) as server:
                result = asyncio.run(drain(url, total, pids[0]))
                result.share = rules_share(httpx.get(f"{server}/metrics", timeout=10).text)
                return result


def rules_share(metrics: str) -> float:
    sums = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name in ("eventeye_processor_batch_seconds_sum", "eventeye_rules_evaluation_seconds_sum")
    }
    return sums.get("eventeye_rules_evaluation_seconds_sum", 0.0) / sums["eventeye_processor_batch_seconds_sum"]


def five_modules() -> list[dict[str, Any]]:
    """50 rules over the five modules, 10 each; web events reach the 10 web ones."""
    web = typical_rules()
    rules = web[:5] + web[25:28] + web[30:31] + web[46:47]  # pages, patterns, a rate per app, an absence
    for module in ("vehicles", "criticality", "plans", "activity"):
        rules += [
            {**_rule(f"{module}-{i}", "match", when=[_equals("kind", f"k{i}")]), "module": module} for i in range(7)
        ]
        rules += [
            {**_rule(f"{module}-streak-{i}", "consecutive", key=["source"], count=5 + i), "module": module}
            for i in range(3)
        ]
    return rules


CONFIGURATIONS = {
    "none": ("no rules", list),
    "modules": ("50 rules over five modules (10 on web)", five_modules),
    "typical": ("50 typical web rules", typical_rules),
    "dense": ("50 dense web rules", dense_rules),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["postgresql"], default="postgresql")
    parser.add_argument("--configurations", default="modules,typical,dense", help="of: modules, typical, dense")
    args = parser.parse_args()
    chosen = [CONFIGURATIONS[name] for name in ["none", *args.configurations.split(",")] if name]
    chosen = list(dict.fromkeys(chosen))
    results: dict[str, list[Drain]] = {label: [] for label, _ in chosen}
    for round_number in range(args.rounds):
        for label, rules in chosen:
            result = run(args.database, args.events, rules())
            results[label].append(result)
            print(
                f"round {round_number + 1}, {label}: {result.events / result.seconds:,.0f} events/s, "
                f"{result.cpu / result.events * 1e6:.0f} µs CPU per event, rules {result.share:.1%} of batch time",
                flush=True,
            )
    report(results, args)


def report(results: dict[str, list[Drain]], args: argparse.Namespace) -> None:
    rate = {label: max(r.events / r.seconds for r in runs) for label, runs in results.items()}
    cpu = {label: min(r.cpu / r.events for r in runs) * 1e6 for label, runs in results.items()}
    base_rate, base_cpu = rate["no rules"], cpu["no rules"]
    print(f"\nprocessing, {args.database}, {args.events} events, best of {args.rounds}; {machine()}")
    share = {label: sorted(r.share for r in runs)[len(runs) // 2] for label, runs in results.items()}
    print(
        "| rules | events/s | throughput cost | CPU µs/event (server + its PostgreSQL backends) | CPU cost "
        "| rules' share of batch time (median) | time rules add to processing |"
    )
    print("|---|---|---|---|---|---|---|")
    for label in results:
        print(
            f"| {label} | {rate[label]:,.0f} | {1 - rate[label] / base_rate:.1%} | {cpu[label]:.0f} | "
            f"{cpu[label] / base_cpu - 1:.1%} | {share[label]:.1%} | {share[label] / (1 - share[label]):.1%} |"
        )


if __name__ == "__main__":
    main()
