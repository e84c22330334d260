"""Mounting the core's routers and the enabled modules' routers."""

from __future__ import annotations

from fastapi import FastAPI

from eventeye.core.alerts.endpoints import router as alerts_router
from eventeye.core.auth.dependencies import declared_access, mounted_routes
from eventeye.core.auth.endpoints import router as auth_router
from eventeye.core.health import router as health_router
from eventeye.core.pipeline.endpoints import router as pipeline_router
from eventeye.core.rules.endpoints import router as rules_router
from eventeye.modules import LoadedModule


def mount_routers(app: FastAPI, modules: list[LoadedModule]) -> None:
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(pipeline_router)
    app.include_router(rules_router)
    app.include_router(alerts_router)
    for module in modules:
        app.include_router(module.router)
    check_access_declared(app)


def check_access_declared(app: FastAPI) -> None:
    """Refuse to start with a route that does not declare who may call it."""
    undeclared = [
        f"{sorted(route.methods)} {route.path}" for route in mounted_routes(app) if declared_access(route) is None
    ]
    if undeclared:
        raise RuntimeError(f"routes without an access declaration: {', '.join(undeclared)}")
