"""``/detections``, ``/stats`` and ``/alerts`` at the original detections API's contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sse_starlette import EventSourceResponse

from eventeye.core.alerts.endpoints import StreamReader
from eventeye.core.alerts.repository import Alert
from eventeye.core.alerts.stream import alert_stream
from eventeye.core.auth.dependencies import IngestAccess, ReadAccess, ReadConn, RuntimeDep
from eventeye.core.responses import OrjsonResponse
from eventeye.errors import InvalidInput, field_detail
from eventeye.vehicles import repository as vehicles_repository
from eventeye.vehicles import service as vehicles_service
from eventeye.vehicles.producer import DetectionWriter
from eventeye.vehicles.schemas import MODULE, Accepted, DetectionIn, DetectionPage, Stats

router = APIRouter(tags=["vehicles"])

MAX_SKIP = 1_000_000
_DETECTION_SCHEMA = DetectionIn.model_json_schema(by_alias=True)
INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [_DETECTION_SCHEMA, {"type": "array", "items": _DETECTION_SCHEMA}]}
            }
        },
    }
}
STREAM_DOC = {200: {"content": {"text/event-stream": {}}, "description": "`event: alert` frames; `: ping` comments"}}


@router.post(
    "/detections",
    status_code=202,
    response_model=Accepted,
    openapi_extra=INGEST_BODY,
    responses={422: {"description": "A detection is invalid; none was accepted"}},
)
async def ingest(request: Request, runtime: RuntimeDep, principal: IngestAccess) -> Response:
    """Accept one detection or an array; answers once they are durable (in the topic, or the inbox)."""
    body = await request.body()
    try:
        items = vehicles_service.read_detections(
            body, source=principal.name, max_items=runtime.settings.max_events_per_request
        )
    except vehicles_service.RejectedDetections as rejected:
        await runtime.pipeline.reject(rejected.rejections)
        raise rejected.error from None
    envelopes = vehicles_service.to_envelopes(items, source=principal.name)
    writer: DetectionWriter | None = runtime.extensions.get(MODULE)
    if writer is not None:
        await writer.publish(envelopes)
    else:
        await runtime.pipeline.accept(envelopes)
    return OrjsonResponse({"accepted": len(envelopes), "ids": [str(e.id) for e in envelopes]}, status_code=202)


@router.get("/detections", response_model=DetectionPage)
async def list_detections(
    conn: ReadConn,
    _: ReadAccess,
    skip: Annotated[int, Query(ge=0, le=MAX_SKIP, description="Detections to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Detections to return")] = 100,
) -> Response:
    """Indexed detections, newest first, with the total count."""
    total = await vehicles_repository.count_detections(conn)
    detections = await vehicles_repository.list_detections(conn, skip=skip, limit=limit)
    items = [
        {
            "id": d.id,
            "indexed_at": d.indexed_at,
            "Year": d.year,
            "Make": d.make,
            "Model": d.model,
            "Category": d.category,
        }
        for d in detections
    ]
    return OrjsonResponse({"total": total, "skip": skip, "limit": limit, "items": items})


@router.get("/stats", response_model=Stats)
async def stats(
    conn: ReadConn,
    _: ReadAccess,
    start: Annotated[datetime | None, Query(description="Indexed at or after (ISO 8601 with a zone)")] = None,
    end: Annotated[datetime | None, Query(description="Indexed before (ISO 8601 with a zone)")] = None,
) -> Response:
    """The number of detections per Make, most first."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"invalid {name}", details=[field_detail(name, "a time needs its UTC offset")])
    if start is not None and end is not None and end < start:
        raise InvalidInput("invalid range", details=[field_detail("end", "must not be before start")])
    counts = await vehicles_repository.count_by_make(conn, start=start, end=end)
    items = [{"Make": make, "count": count} for make, count in counts]
    return OrjsonResponse({"start": start, "end": end, "total": sum(n for _, n in counts), "items": items})


def render_alert(alert: Alert) -> dict[str, Any]:
    """An alert as ``/alerts`` sends it: the detection's fields, its id, and the alert's."""
    event = alert.payload.get("event") or {}
    return {
        **(event.get("attributes") or {}),
        "id": str(alert.id),
        "detection_id": event.get("id"),
        "rule": alert.rule,
        "raised_at": alert.created_at.isoformat(),
    }


@router.get("/alerts", response_class=EventSourceResponse, responses=STREAM_DOC)  # type: ignore[arg-type]
async def alerts(request: Request, runtime: RuntimeDep, _: StreamReader) -> EventSourceResponse:
    """Suspicious-vehicle alerts as they are raised (Server-Sent Events); `Last-Event-ID` replays missed ones."""
    return await alert_stream(request, runtime.alerts, module=MODULE, render=render_alert)
