"""The activity module: video detections, periods of activity, presence alerts."""

from __future__ import annotations

from eventeye.activity.api import aggregate_events, ingest_events
from eventeye.activity.endpoints import router
from eventeye.activity.handlers import ActivityHandler
from eventeye.activity.schemas import MODULE
from eventeye.activity.service import presence_rule
from eventeye.core.modules import ModuleRegistry

__all__ = ["router", "register", "ingest_events", "aggregate_events"]


def register(registry: ModuleRegistry) -> None:
    """Plug detection processing and the presence alert into the pipeline."""
    registry.add_handler(MODULE, ActivityHandler())
    registry.add_rule(MODULE, presence_rule(registry.runtime.settings.activity_presence_streak))
