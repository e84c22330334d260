"""criticality: producers publish criticality changes; each consumer app is told the latest state once."""

from __future__ import annotations

from eventeye.core.modules import ModuleRegistry
from eventeye.criticality.endpoints import router
from eventeye.criticality.handlers import MODULE, keep_latest_gauge, latest_gauge, silent_consumer_rule

__all__ = ["register", "router"]


def register(registry: ModuleRegistry) -> None:
    """The silent-consumer rule, and the process's latest-state gauge kept fresh."""
    runtime = registry.runtime
    registry.add_rule(MODULE, silent_consumer_rule(runtime.settings))
    latest_gauge(runtime)
    registry.add_task("criticality.latest-gauge", lambda: keep_latest_gauge(runtime), role="api")
