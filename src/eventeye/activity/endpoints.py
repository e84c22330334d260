"""``/v1/activity/detections`` (real-time ingestion) and ``/v1/activity/periods`` (activity periods)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from eventeye.activity import service as activity_service
from eventeye.activity.schemas import CAMERA_MAX_LENGTH, DEFAULT_CAMERA, Accepted, DetectionIn, Periods
from eventeye.core.auth.dependencies import IngestAccess, ReadAccess, ReadConn, RuntimeDep
from eventeye.core.responses import OrjsonResponse

router = APIRouter(prefix="/v1/activity", tags=["activity"])

DETECTION_SCHEMA = DetectionIn.model_json_schema()
INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": [DETECTION_SCHEMA, {"type": "array", "items": DETECTION_SCHEMA}]}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")


@router.post("/detections", status_code=202, response_model=Accepted, openapi_extra=INGEST_BODY)
async def ingest(request: Request, runtime: RuntimeDep, principal: IngestAccess) -> Response:
    """Accept one detection, a JSON array of them, or NDJSON; answers once they are durable."""
    settings = runtime.settings
    received_at = datetime.now(UTC)
    ndjson = request.headers.get("content-type", "").startswith(NDJSON_TYPES)
    try:
        raw = activity_service.parse_body(
            await request.body(), ndjson=ndjson, source=principal.name, received_at=received_at
        )
        items = activity_service.check_items(
            raw,
            source=principal.name,
            latest=activity_service.latest_allowed(received_at, settings.clock_skew),
            max_items=settings.max_events_per_request,
            received_at=received_at,
        )
    except activity_service.RejectedBatch as rejected:
        await runtime.pipeline.reject(rejected.rejections)
        raise rejected.error from None
    envelopes = activity_service.to_envelopes(items, source=principal.name, received_at=received_at)
    await runtime.pipeline.accept(envelopes)
    return OrjsonResponse({"accepted": len(envelopes), "ids": [str(e.id) for e in envelopes]}, status_code=202)


@router.get("/periods", response_model=Periods)
async def list_periods(
    conn: ReadConn,
    _: ReadAccess,
    start: datetime | None = None,
    end: datetime | None = None,
    camera_id: Annotated[str, Query(min_length=1, max_length=CAMERA_MAX_LENGTH)] = DEFAULT_CAMERA,
    gap_seconds: Annotated[float, Query(gt=0, le=366 * 86400)] = 60,
) -> Response:
    """Periods of activity of people and vehicles seen by a camera in ``[start, end)`` (no zone: UTC).

    Detections of a group less than ``gap_seconds`` apart belong to one period;
    a lone detection is a period that starts and ends at once.
    """
    found = await activity_service.find_periods(
        conn, camera_id=camera_id, start=start, end=end, gap_seconds=gap_seconds
    )
    return OrjsonResponse(found)
