"""Sync time and peak memory of `eventeye plans sync` on a large generated feed.

    .venv/bin/python bench/plans_sync.py [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

A feed of 5,000 base events x 200 zones (one event each, ~84 MB) is served by
a separate ``http.server`` process and synced three times by the real CLI in
its own process: into an empty store (all new), again (all unchanged), and
with every price changed (all updated). Peak RSS is the sync process's
``ru_maxrss``. With ``--database-url`` a scratch database is created on that
PostgreSQL server and dropped afterwards; otherwise SQLite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from plans_feed import write_feed
from plans_support import EVENTEYE, environment, migrate, provider, scratch_database, sync


def baseline_rss(env: dict[str, str]) -> float:
    process = subprocess.Popen([*EVENTEYE, "plans", "--help"], env=env, stdout=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--base-events", type=int, default=5000)
    parser.add_argument("--zones", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plans-bench-") as scratch:
        directory = Path(scratch)
        plans = write_feed(directory / "feed.xml", base_events=args.base_events, events=1, zones=args.zones)
        write_feed(directory / "changed.xml", base_events=args.base_events, events=1, zones=args.zones, variant=1)
        size_mb = (directory / "feed.xml").stat().st_size / 1e6
        print(f"feed: {args.base_events} base events x {args.zones} zones = {plans} plans, {size_mb:.1f} MB")
        with provider(directory) as base, scratch_database(args.database_url, directory) as database_url:
            env = environment(database_url, directory / "data")
            if database_url.startswith("postgresql"):
                migrate(env)
            backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
            print(f"baseline: `eventeye plans --help` peaks at {baseline_rss(env):.0f} MB (imports alone)")
            print("| backend | sync | seconds | peak RSS (MB) | result |\n|---|---|---|---|---|")
            for label, name in (("all new", "feed.xml"), ("unchanged", "feed.xml"), ("all updated", "changed.xml")):
                result = sync(env, f"{base}/{name}")
                if result.returncode != 0:
                    raise SystemExit(f"sync failed ({result.returncode}):\n{result.output}")
                summary = result.output.splitlines()[0]
                print(f"| {backend} | {label} | {result.seconds:.1f} | {result.peak_rss_mb:.0f} | {summary} |")


if __name__ == "__main__":
    main()
