"""Prometheus metrics of the plans module (served at `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SEARCH_CACHE = Counter("eventeye_plans_search_cache_total", "/search answers by cache result", ["result"])
CACHE_HITS = SEARCH_CACHE.labels("hit")
CACHE_MISSES = SEARCH_CACHE.labels("miss")
VERSION_READS = Counter(
    "eventeye_plans_version_reads_total", "Data version reads, each shared by the /search requests waiting for it"
)
SYNC_RUNS = Counter("eventeye_plans_sync_runs_total", "Provider sync runs by outcome", ["outcome"])
SYNC_SECONDS = Histogram(
    "eventeye_plans_sync_duration_seconds",
    "Provider sync duration",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
SYNCED_PLANS = Counter("eventeye_plans_synced_total", "Plans and elements met by syncs, by kind", ["kind"])
CIRCUIT_OPEN = Gauge("eventeye_plans_provider_circuit_open", "1 while this process does not call the provider")
