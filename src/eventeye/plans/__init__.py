"""plans: the provider's events, synced periodically and searchable at `GET /search`."""

from __future__ import annotations

from dataclasses import dataclass

from eventeye.core.modules import ModuleRegistry
from eventeye.plans.endpoints import router
from eventeye.plans.handlers import build_syncer, sync_periodically
from eventeye.plans.service import PlanSearch
from eventeye.plans.sync import Syncer

__all__ = ["register", "router"]


@dataclass
class PlansState:
    """What this process keeps for the plans module (``runtime.extensions["plans"]``)."""

    search: PlanSearch
    syncer: Syncer | None


def register(registry: ModuleRegistry) -> None:
    """Set up `/search`; sync the provider in the background of worker processes when one is configured."""
    runtime = registry.runtime
    settings = runtime.settings
    syncer = build_syncer(settings, runtime.engine) if settings.plans_provider_url else None
    search = PlanSearch(runtime.engine, cache_bytes=settings.plans_search_cache_bytes)
    runtime.extensions["plans"] = PlansState(search=search, syncer=syncer)
    registry.add_shutdown(lambda _: search.close())
    if syncer is not None:
        interval = settings.plans_sync_interval.total_seconds()
        registry.add_task("plans.sync", lambda: sync_periodically(syncer, interval), role="worker")
