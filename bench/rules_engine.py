"""The rules engine alone: CPU and time per event of one rule set's evaluation, in process.

    .venv/bin/python bench/rules_engine.py [--configurations typical,dense] [--events 30000] [--rounds 5]

On a fresh PostgreSQL database (migrated), the web events of
``rules_cost.py`` become facts as the ``web`` module stores them, and go
through the rules engine the way the processor hands them over (the
garbage collector tuned as in a worker): as many per batch as the
processor takes by default, ``on_stored`` inside a write transaction, then ``after_commit``. No
inbox, no HTTP, no event rows: only what the rules cost (matching, the
state machines, the state write, the alerts). Each round starts from empty
``rule_state`` and ``alerts`` tables and a new engine; configurations
alternate after one round of each that is not counted, and the report gives each one's median and best CPU and wall
microseconds per event. Compare code versions back to back (the host's
speed drifts between hours): run it on one checkout, then on another with
``PYTHONPATH=<other>/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from sqlalchemy import text  # noqa: E402

from alerts_support import SECRET, machine, scratch_database  # noqa: E402
from eventeye.config import Settings  # noqa: E402
from eventeye.core.alerts.service import Alerts  # noqa: E402
from eventeye.core.pipeline.envelope import Fact  # noqa: E402
from eventeye.core.rules.engine import RulesEngine  # noqa: E402
from eventeye.core.storage.engine import create_engine, write_transaction  # noqa: E402
from eventeye.process import tune_collector  # noqa: E402
from rules_cost import CONFIGURATIONS, events  # noqa: E402

BATCH = 2000  # as the processor takes them on PostgreSQL


def facts(total: int) -> list[Fact]:
    """The benchmark's events as the ``web`` module hands them to the rules."""
    made = []
    for item in events(total):
        made.append(
            Fact(
                event_id=uuid.uuid4(),
                module="web",
                type=f"{item['category']}/{item['name']}",
                source="bench",
                occurred_at=datetime.fromisoformat(item["timestamp"]).replace(tzinfo=UTC),
                attributes={
                    "session_id": item["session_id"],
                    "category": item["category"],
                    "name": item["name"],
                    "app": "bench",
                    "data": item["data"],
                },
            )
        )
    return made


async def one_round(
    url: str, directory: Path, rules: list[dict[str, Any]], batches: list[list[Fact]]
) -> tuple[float, float]:
    """CPU seconds and wall seconds of the engine over every batch."""
    settings = Settings(database_url=url, data_dir=directory, secret_key=SECRET, rules=rules, plans_provider_url=None)
    engine = create_engine(settings.resolved_database_url)
    try:
        async with write_transaction(engine) as conn:
            await conn.execute(text("TRUNCATE rule_state, alerts"))
        rules_engine = RulesEngine(engine, settings, Alerts(engine, settings, secret_key=SECRET))
        cpu = wall = 0.0
        for batch in batches:
            async with write_transaction(engine) as conn:
                await conn.execute(text("SELECT 1"))  # a batch's events are written first: its transaction is open
                started, started_cpu = time.perf_counter(), time.process_time()
                await rules_engine.on_stored(conn, batch)
                cpu += time.process_time() - started_cpu
                wall += time.perf_counter() - started
            await rules_engine.after_commit()
        return cpu, wall
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--configurations", default="typical,dense", help="of: modules, typical, dense")
    args = parser.parse_args()
    made = facts(args.events)
    batches = [made[i : i + BATCH] for i in range(0, len(made), BATCH)]
    tune_collector()  # as a worker process does
    chosen = args.configurations.split(",")
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in chosen}
    with tempfile.TemporaryDirectory() as tmp, scratch_database("postgresql", Path(tmp)) as url:
        for round_number in range(args.rounds + 1):
            for name in chosen:
                rules = CONFIGURATIONS[name][1]()
                measured = asyncio.run(one_round(url, Path(tmp), rules, batches))
                if round_number:  # the first round warms up the server's caches and this process
                    results[name].append(measured)
    print(f"rules engine in process, {args.events} events, {BATCH} a batch, {args.rounds} rounds; {machine()}")
    print("| rules | CPU µs/event (median, best) | wall µs/event (median, best) |")
    print("|---|---|---|")
    for name, runs in results.items():
        cpu = [c / args.events * 1e6 for c, _ in runs]
        wall = [w / args.events * 1e6 for _, w in runs]
        print(
            f"| {CONFIGURATIONS[name][0]} | {statistics.median(cpu):.2f}, {min(cpu):.2f} "
            f"| {statistics.median(wall):.2f}, {min(wall):.2f} |"
        )


if __name__ == "__main__":
    main()
