"""``create_app()``: the ASGI application with its lifespan, middleware, handlers and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye import __version__
from eventeye.api import mount_routers
from eventeye.config import Settings, get_settings
from eventeye.core.http import BodyLimitMiddleware, RequestContextMiddleware
from eventeye.core.modules import Role
from eventeye.core.routing import install_direct_dispatch
from eventeye.core.telemetry import setup_tracing
from eventeye.errors import install_error_handlers
from eventeye.modules import LoadedModule, enabled_modules
from eventeye.process import running

DESCRIPTION = """Collects events from many sources, validates and stores them, answers
queries and aggregations, and raises alerts in real time.

Authenticate with `POST /login` (users, bearer JWT) or an application key
(`Authorization: Bearer ee_...` or `X-API-Key`)."""


def create_app(
    settings: Settings | None = None,
    *,
    roles: set[Role] | None = None,
    engine: AsyncEngine | None = None,
    modules: list[LoadedModule] | None = None,
) -> FastAPI:
    """Build the application; ``roles`` defaults to API + worker (``eventeye serve``)."""
    settings = settings or get_settings()
    roles = roles or {"api", "worker"}
    modules = enabled_modules(settings) if modules is None else modules

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, roles, engine=engine, modules=modules) as registry:
            app.state.runtime = registry.runtime
            app.state.registry = registry
            if tracing is not None:
                tracing.instrument_engine(registry.runtime.engine)
            yield
        if tracing is not None:
            tracing.shutdown()

    app = FastAPI(
        title="eventeye",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's own telemetry looks up providers on every request; eventeye traces itself.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    install_direct_dispatch(app)  # first: the innermost middleware
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContextMiddleware)
    mount_routers(app, modules)
    tracing = setup_tracing(app, settings)
    return app


def serve_app() -> FastAPI:
    """Factory for ``eventeye serve``: API, processing and background tasks in one process."""
    return create_app(roles={"api", "worker"})


def api_app() -> FastAPI:
    """Factory for ``eventeye api``: HTTP only; processing runs in ``eventeye worker``."""
    return create_app(roles={"api"})
