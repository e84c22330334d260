"""Printing the ingestion benchmark's results, and summarising py-spy profiles."""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

TARGETS = {
    "batched": 20_000,
    "keep_up": 15_000,
    "single_ratio": 0.60,
    "accept_p99_ms": 25,
    "queryable_p99_ms": 1000,
    "session_query_ms": 20,
}


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "BELOW target"


def _lines(r: dict[str, Any]) -> list[str]:
    bare1, bare100 = r["bare_single"], r["bare_batches"]
    batches, keep, single = r["batches"], r["keep_up"], r["single"]
    paced, query = r["paced"], r["query"]
    wrk100 = batches["wrk"]
    ratios = [ours.accepted_events_per_s / bare.accepted_events_per_s for bare, ours in single["pairs"]]
    ratio = statistics.median_low(ratios)
    wrk1 = single["pairs"][ratios.index(ratio)][1]
    keeps_up = (
        keep["final_backlog"] <= TARGETS["keep_up"] and keep["accepted_events_per_s"] >= 0.95 * TARGETS["keep_up"]
    )
    accept_p99 = paced["latency_ms"]["p99"]
    queryable_p99 = paced["queryable_ms"]["p99"]
    return [
        f"== {r['database']} == (load average {_load(r['load_average_start'])} at the start, "
        f"{_load(r['load_average_end'])} at the end, on {os.cpu_count()} cores)",
        f"bare handler: {bare1.requests_per_s:,.0f} single POSTs/s; {bare100.accepted_events_per_s:,.0f} events/s "
        f"in batches of 100",
        f"batches of 100 (wrk): {wrk100.accepted_events_per_s:,.0f} accepted events/s "
        f"({wrk100.accepted_events_per_s / bare100.accepted_events_per_s:.0%} of bare), "
        f"{wrk100.non_2xx} non-202, p50 {wrk100.p50_ms:.1f} ms, p99 {wrk100.p99_ms:.1f} ms "
        f"-> {_verdict(wrk100.accepted_events_per_s >= TARGETS['batched'])}",
        f"  processed {batches['processed_during_load_per_s']:,.0f} events/s during the load, "
        f"{batches['processed_events_per_s']:,.0f} events/s until drained; max backlog {batches['max_backlog']:,}, "
        f"drained {batches['drain_s']:.1f} s after the load",
        f"  backlog (s, rows): {batches['backlog']}",
        f"fixed {keep['offered_events_per_s']:,} events/s: accepted {keep['accepted_events_per_s']:,.0f}/s, "
        f"processed {keep['processed_events_per_s']:,.0f}/s, backlog max {keep['max_backlog']:,} "
        f"final {keep['final_backlog']:,}, statuses {keep['statuses']}, skipped {keep['skipped']} "
        f"-> {'keeps up' if keeps_up else 'does NOT keep up'}",
        f"  backlog (s, rows): {keep['backlog']}",
        f"single POSTs (wrk, {len(ratios)} runs each after one of the bare handler): "
        f"{ratio:.0%} of bare (median; runs {', '.join(f'{r:.0%}' for r in ratios)}); median run "
        f"{wrk1.requests_per_s:,.0f}/s, {wrk1.non_2xx} non-202, p50 {wrk1.p50_ms:.1f} ms, p99 {wrk1.p99_ms:.1f} ms "
        f"-> {_verdict(ratio >= TARGETS['single_ratio'])}",
        "  runs (bare, eventeye) single POSTs/s: "
        + ", ".join(f"({bare.requests_per_s:,.0f}, {ours.requests_per_s:,.0f})" for bare, ours in single["pairs"]),
        "  cores used meanwhile: " + ", ".join(f"{name} {used:.2f}" for name, used in single["cores"].items()),
        f"200 events/s: accept p50 {paced['latency_ms']['p50']} ms, p99 {accept_p99} ms "
        f"-> {_verdict(accept_p99 is not None and accept_p99 < TARGETS['accept_p99_ms'])}; "
        f"statuses {paced['statuses']}",
        f"  accept to queryable: p50 {paced['queryable_ms']['p50']} ms, p99 {queryable_p99} ms, "
        f"never seen {paced['never_seen']} -> "
        f"{_verdict(queryable_p99 is not None and queryable_p99 < TARGETS['queryable_p99_ms'])}",
        f"one session (50 events) among {query['stored']:,} events: p50 {query['p50_ms']:.1f} ms, "
        f"p99 {query['p99_ms']:.1f} ms, max {query['max_ms']:.1f} ms "
        f"(bulk load {query['load_s']:.0f} s) -> {_verdict(query['p99_ms'] < TARGETS['session_query_ms'])}",
        f"  the SQL alone: p50 {query['sql_p50_ms']:.2f} ms, p99 {query['sql_p99_ms']:.2f} ms",
    ]


def print_report(results: dict[str, Any]) -> None:
    print("\n".join(_lines(results)), flush=True)


def profile_summary(path: Path, top: int = 15) -> str:
    """The frames where the server spent its GIL time: by itself, and with what they call."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = [re.sub(r" \((?:.*/)?(site-packages/|src/)?([^()]*?):\d+\)$", r" (\2)", f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            if "eventeye/" in frame:
                inclusive[frame] += samples
    lines = [f"-- profile {path.name}: {total} samples with the GIL held"]
    lines += [f"  self {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += [f"  incl {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)
