"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from eventeye import __version__
from eventeye.core.auth.dependencies import Public, RuntimeDep
from eventeye.core.responses import OrjsonResponse
from eventeye.core.storage import migrations

router = APIRouter(tags=["service"])
logger = logging.getLogger("eventeye.health")


@router.get("/healthz")
async def healthz(_: Public) -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep, _: Public) -> Response:
    """The database answers and its schema is current."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(3):
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            missing = await migrations.pending(runtime.engine)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if not missing else f"pending: {', '.join(sorted(missing))}"
    except Exception as exc:  # any failure to reach the database means not ready
        logger.warning("readiness check failed: %s", exc)
        checks["database"] = "unreachable"
    ready = all(value == "ok" for value in checks.values()) and "migrations" in checks
    return OrjsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)


@router.get("/metrics")
async def metrics(_: Public) -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
