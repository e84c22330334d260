"""The Python API: bulk ingestion and periods without going through HTTP.

from eventeye.activity import aggregate_events, ingest_events

report = await ingest_events([{"time": "2024-05-01T18:30:30Z", "type": "car"}])
periods = await aggregate_events(start=datetime(2024, 5, 1, tzinfo=UTC), camera_id="default")
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.activity import bulk, periods
from eventeye.activity import service as activity_service
from eventeye.activity.schemas import DEFAULT_CAMERA
from eventeye.config import Settings, get_settings
from eventeye.core.storage.engine import create_engine, read_transaction
from eventeye.process import running


async def ingest_events(
    events: Iterable[Any],
    *,
    settings: Settings | None = None,
    engine: AsyncEngine | None = None,
    source: str = "python",
    chunk_size: int = bulk.CHUNK_SIZE,
) -> bulk.LoadReport:
    """Bulk-store detections (mappings like the JSON body, or ``(time, type[, camera_id])``).

    Runs the enabled modules' rules on them in time order, as the server
    would; bad detections are counted, recorded in ``errors`` and skipped.
    """
    settings = settings or get_settings()
    async with running(settings, set(), engine=engine) as registry:
        runtime = registry.runtime
        reader = bulk.iterable_reader(events, bulk.latest_allowed(settings.clock_skew))
        hooks = runtime.pipeline.processor.hooks
        return await bulk.load(runtime.engine, reader, hooks=hooks, source=source, chunk_size=chunk_size)


async def aggregate_events(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    camera_id: str = DEFAULT_CAMERA,
    gap_seconds: float = 60,
    settings: Settings | None = None,
    engine: AsyncEngine | None = None,
) -> periods.PeriodsByGroup:
    """``{"people": [(start, end), ...], "vehicles": [...]}`` for ``camera_id`` in ``[start, end)``."""
    owned = engine is None
    engine = engine or create_engine((settings or get_settings()).resolved_database_url)
    try:
        async with read_transaction(engine) as conn:
            return await activity_service.find_periods(
                conn, camera_id=camera_id, start=start, end=end, gap_seconds=gap_seconds
            )
    finally:
        if owned:
            await engine.dispose()
