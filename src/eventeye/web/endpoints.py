"""``/v1/events``, ``/v1/sessions/{id}/events`` and ``/v1/stats``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from eventeye.core.auth.dependencies import CREDENTIAL_SECURITY, IngestCaller, ReadAccess, ReadConn
from eventeye.core.pagination import decode_cursor, encode_cursor
from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.core.responses import OrjsonResponse
from eventeye.core.routing import DirectRoute
from eventeye.web import repository as web_repository
from eventeye.web import service as web_service
from eventeye.web.schemas import MODULE, Accepted, EventPage, Stats, StatsCount, WebEventIn

router = APIRouter(prefix="/v1", tags=["web"])

EVENT_SCHEMA = WebEventIn.model_json_schema()
INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": [EVENT_SCHEMA, {"type": "array", "items": EVENT_SCHEMA}]}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


async def ingest(request: Request, caller: IngestCaller) -> Response:
    """Accept one event, a JSON array of events, or NDJSON; answers once they are durable."""
    runtime, principal = caller.runtime, caller.principal
    settings = runtime.settings
    body = await request.body()
    ndjson = request.headers.get("content-type", "").startswith(("application/x-ndjson", "application/jsonl"))
    try:
        raw_items = web_service.parse_body(body, ndjson=ndjson, source=principal.name)
        items = web_service.check_items(raw_items, source=principal.name, max_items=settings.max_events_per_request)
    except web_service.RejectedBatch as rejected:
        await runtime.pipeline.reject(rejected.rejections)
        raise rejected.error from None
    envelopes = web_service.to_envelopes(items, raw_items, source=principal.name)
    await runtime.pipeline.accept(envelopes)
    return OrjsonResponse({"accepted": len(envelopes), "ids": [str(e.id) for e in envelopes]}, status_code=202)


router.add_api_route(
    "/events",
    ingest,
    methods=["POST"],
    status_code=202,
    response_model=Accepted,
    openapi_extra={**INGEST_BODY, "security": CREDENTIAL_SECURITY},
    route_class_override=DirectRoute,  # the busiest route: no dependency solving per request
)


def _page(events: list[web_repository.WebEvent], limit: int) -> dict[str, Any]:
    items = [
        {
            "id": e.id,
            "session_id": e.session_id,
            "category": e.category,
            "name": e.name,
            "data": e.data,
            "timestamp": e.occurred_at,
            "received_at": e.received_at,
            "app": e.app,
            "known_type": e.known_type,
        }
        for e in events
    ]
    last = events[-1] if len(events) == limit else None
    return {"items": items, "next_cursor": encode_cursor(last.occurred_at, last.id) if last else None}


Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/events", response_model=EventPage)
async def list_events(
    conn: ReadConn,
    _: ReadAccess,
    session_id: str | None = None,
    category: str | None = None,
    name: str | None = None,
    app: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    limit: Limit = 100,
    cursor: str | None = None,
) -> Response:
    """Stored events by session, category, name, app and time range (``start`` inclusive, ``end`` exclusive)."""
    where = web_repository.EventFilter(
        session_id=session_id, category=category, name=name, app=app, start=start, end=end
    )
    events = await web_repository.list_events(
        conn, where=where, order="asc" if order == "asc" else "desc", limit=limit, after=decode_cursor(cursor)
    )
    return OrjsonResponse(_page(events, limit))


@router.get("/sessions/{session_id}/events", response_model=EventPage)
async def session_events(
    session_id: str, conn: ReadConn, _: ReadAccess, limit: Limit = 1000, cursor: str | None = None
) -> Response:
    """One session's events in the order they occurred (ties by id, i.e. by arrival)."""
    where = web_repository.EventFilter(session_id=session_id)
    events = await web_repository.list_events(conn, where=where, order="asc", limit=limit, after=decode_cursor(cursor))
    return OrjsonResponse(_page(events, limit))


@router.get("/stats", response_model=Stats)
async def stats(
    conn: ReadConn,
    _: ReadAccess,
    group_by: Annotated[str, Query(pattern="^(category|name|app|type)$")] = "category",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Stats:
    """Event counts per group over a time range of occurrence, with flagged unknown types, and
    errors by kind over the same range of when they were recorded."""
    key = web_service.group_by_key(group_by)
    counts = await web_repository.count_events(conn, group_by=key, start=start, end=end)
    unknown = await web_repository.count_unknown_types(conn, start=start, end=end)
    errors = await pipeline_repository.count_errors(conn, module=MODULE, start=start, end=end)
    return Stats(
        group_by=key,
        total=sum(count for _, count in counts),
        counts=[StatsCount(key=k, count=c) for k, c in counts],
        unknown_types=unknown,
        errors=errors,
    )
