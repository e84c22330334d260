"""criticality: producers publish criticality changes; each consumer app is told the latest state once."""

from __future__ import annotations

from eventeye.core.modules import ModuleRegistry
from eventeye.criticality.endpoints import router
from eventeye.criticality.handlers import MODULE, keep_latest_gauge, latest_gauge, poll_log, silent_consumer_rule

__all__ = ["register", "router"]


def register(registry: ModuleRegistry) -> None:
    """The silent-consumer rule, the process's latest-state gauge kept fresh, and its poll log written."""
    runtime = registry.runtime
    registry.add_rule(MODULE, silent_consumer_rule(runtime.settings))
    latest_gauge(runtime)
    registry.add_task("criticality.latest-gauge", lambda: keep_latest_gauge(runtime), role="api")
    registry.add_task("criticality.polls", lambda: poll_log(runtime).run(), role="api")
