"""The web module ("The Eye"): user-behaviour events from trusted applications."""

from __future__ import annotations

from eventeye.core.modules import ModuleRegistry
from eventeye.web.endpoints import router
from eventeye.web.handlers import WebHandler
from eventeye.web.schemas import BUILTIN_SCHEMAS, MODULE

__all__ = ["router", "register"]


def register(registry: ModuleRegistry) -> None:
    """Plug the web event types and their processing into the pipeline."""
    for type, schema in BUILTIN_SCHEMAS.items():
        registry.add_event_type(MODULE, type, schema)
    registry.add_handler(MODULE, WebHandler())
