"""``/secapp/update`` at its original contract, and ``/v1/criticality`` listings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from eventeye.core.auth.dependencies import ReadAccess, ReadConn, RuntimeDep
from eventeye.core.responses import OrjsonResponse
from eventeye.core.routing import DirectRoute
from eventeye.core.runtime import Runtime
from eventeye.criticality import metrics
from eventeye.criticality import service as criticality_service
from eventeye.criticality.auth import SECAPP_HEADERS, SecappCaller
from eventeye.criticality.handlers import known_consumers, latest_gauge, poll_log
from eventeye.criticality.schemas import (
    ChangeRead,
    ConsumerRead,
    ConsumersPage,
    HistoryPage,
    NotifiedState,
    Processed,
    SecappState,
    StatusChange,
)
from eventeye.errors import InvalidInput, field_detail

router = APIRouter()

STATUS_CHANGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": StatusChange.model_json_schema(by_alias=True)}},
    }
}


SECAPP_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "App-name missing or empty"},
    401: {"description": "token missing or wrong"},
    403: {"description": "an app key without the criticality scope, or used with another App-name"},
    422: {"description": "the body is not a valid status change (the field is named)"},
}
NO_STORE = {"Cache-Control": "no-store"}


async def status_change(request: Request, runtime: Runtime) -> StatusChange:
    """The JSON body, validated after the caller (so a bad token is a 401 whatever the body)."""
    try:
        change = StatusChange.model_validate_json(await request.body())
    except ValidationError as exc:
        details = [
            field_detail(".".join(str(part) for part in error["loc"]) or "body", error["msg"])
            for error in exc.errors(include_url=False)
        ]
        raise InvalidInput("the body is not a valid status change", details=details) from None
    criticality_service.check_status(change, runtime.settings)
    return change


async def publish(call: SecappCaller, request: Request) -> Response:
    """Publish a criticality change; the latest state is the one with the latest ``Change_at``."""
    runtime = call.runtime
    change = await status_change(request, runtime)
    # One INSERT ... RETURNING, committed on its own before the answer: no BEGIN/COMMIT round trips.
    processed_id = await criticality_service.publish(
        runtime.engine, runtime.driver, app_name=call.app_name, change=change, at=criticality_service.now()
    )
    metrics.UPDATES.labels(metrics.app_label(call.app_name)).inc()
    return OrjsonResponse({"processed_id": processed_id})


async def poll(call: SecappCaller) -> Response:
    """The latest state if this App-name has not been given it yet, else ``{}`` (each state once per app)."""
    runtime, app_name = call.runtime, call.app_name
    at = criticality_service.now()
    poll_log(runtime).add([(app_name, at)])
    known = known_consumers(runtime)
    state = await criticality_service.poll(runtime.engine, runtime.driver, app_name=app_name, at=at, known=known)
    metrics.POLLS.labels(metrics.app_label(app_name), "state" if state else "empty").inc()
    if state is None:
        return OrjsonResponse({}, headers=NO_STORE)
    latest_gauge(runtime).offer(state)
    return OrjsonResponse(criticality_service.secapp_state(state), headers=NO_STORE)


# The busiest routes (thousands of polls a second): called without FastAPI's dependency solving.
router.add_api_route(
    "/secapp/update",
    publish,
    methods=["POST"],
    response_model=Processed,
    tags=["secapp"],
    openapi_extra={**STATUS_CHANGE_BODY, "parameters": SECAPP_HEADERS},
    responses=SECAPP_ERRORS,
    route_class_override=DirectRoute,
)
router.add_api_route(
    "/secapp/update",
    poll,
    methods=["GET"],
    tags=["secapp"],
    openapi_extra={"parameters": SECAPP_HEADERS},
    responses={200: {"model": SecappState}, **SECAPP_ERRORS},
    route_class_override=DirectRoute,
)


@router.get("/v1/criticality/history", response_model=HistoryPage, tags=["criticality"])
async def history(
    conn: ReadConn,
    _: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=1, description="next_cursor of the previous page")] = None,
    producer: Annotated[str | None, Query(max_length=150, description="Only this producer's changes")] = None,
) -> HistoryPage:
    """Every status change with its producer app, newest received first."""
    page = await criticality_service.history(conn, cursor=cursor, producer=producer, limit=limit)
    items = [
        ChangeRead(
            processed_id=c.id,
            producer=c.app_name,
            current_status=c.current_status,
            change_at=c.change_at,
            received_at=c.received_at,
        )
        for c in page.items
    ]
    return HistoryPage(items=items, next_cursor=page.next_cursor)


@router.get("/v1/criticality/consumers", response_model=ConsumersPage, tags=["criticality"])
async def consumers(
    conn: ReadConn,
    runtime: RuntimeDep,
    _: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=150, description="next_cursor of the previous page")] = None,
) -> ConsumersPage:
    """Each consumer app with its last poll time and the last state it was given."""
    page = await criticality_service.list_consumers(conn, cursor=cursor, limit=limit)
    at, timeout = criticality_service.now(), runtime.settings.criticality_consumer_timeout
    items = [
        ConsumerRead(
            app_name=c.app_name,
            first_poll_at=c.first_poll_at,
            last_poll_at=c.last_poll_at,
            polls=c.polls,
            notified=NotifiedState(
                processed_id=c.notified.id, current_status=c.notified.current_status, change_at=c.notified.change_at
            )
            if c.notified
            else None,
            notified_at=c.notified_at,
            overdue=criticality_service.is_overdue(c, at=at, timeout=timeout),
        )
        for c in page.items
    ]
    return ConsumersPage(items=items, next_cursor=page.next_cursor)
