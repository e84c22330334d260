"""criticality: producers publish criticality changes; each consumer app is told the latest state once."""

from __future__ import annotations

from eventeye.core.modules import ModuleRegistry
from eventeye.criticality.endpoints import router
from eventeye.criticality.handlers import keep_latest_gauge, latest_gauge

__all__ = ["register", "router"]


def register(registry: ModuleRegistry) -> None:
    """Give the process its latest-state gauge and keep it fresh."""
    runtime = registry.runtime
    latest_gauge(runtime)
    registry.add_task("criticality.latest-gauge", lambda: keep_latest_gauge(runtime), role="api")
