"""Mounting the core's routers and the enabled modules' routers."""

from __future__ import annotations

from fastapi import FastAPI

from eventeye.core.alerts.endpoints import router as alerts_router
from eventeye.core.auth.dependencies import declared_access, mounted_routes
from eventeye.core.auth.endpoints import router as auth_router
from eventeye.core.health import router as health_router
from eventeye.core.pipeline.endpoints import router as pipeline_router
from eventeye.core.routing import include_flat, install_static_path_index
from eventeye.core.rules.endpoints import router as rules_router
from eventeye.modules import LoadedModule


def mount_routers(app: FastAPI, modules: list[LoadedModule]) -> None:
    """The core's routes, then each module's, flat and with fixed paths looked up directly."""
    for router in (health_router, auth_router, pipeline_router, rules_router, alerts_router):
        include_flat(app, router)
    for module in modules:
        include_flat(app, module.router)
    install_static_path_index(app)
    check_access_declared(app)


def check_access_declared(app: FastAPI) -> None:
    """Refuse to start with a route that does not declare who may call it."""
    undeclared = [
        f"{sorted(route.methods)} {route.path}" for route in mounted_routes(app) if declared_access(route) is None
    ]
    if undeclared:
        raise RuntimeError(f"routes without an access declaration: {', '.join(undeclared)}")
