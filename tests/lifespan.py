"""Running an application's lifespan in tests, with time to spare on a busy machine."""

from __future__ import annotations

from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

STARTUP_TIMEOUT = 30
SHUTDOWN_TIMEOUT = 30


def running(app: ASGIApp) -> LifespanManager:
    """The app's lifespan: started on entry, stopped on exit (each given ``*_TIMEOUT`` seconds)."""
    return LifespanManager(app, startup_timeout=STARTUP_TIMEOUT, shutdown_timeout=SHUTDOWN_TIMEOUT)
