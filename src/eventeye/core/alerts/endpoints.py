"""``/v1/alerts`` (history, the live stream, stream tokens) and ``/v1/webhooks`` (endpoints and deliveries)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sse_starlette import EventSourceResponse

from eventeye.core.alerts import repository as alerts_repository
from eventeye.core.alerts.repository import AlertFilter, Webhook
from eventeye.core.alerts.schemas import (
    AlertItem,
    AlertPage,
    DeliveryItem,
    DeliveryPage,
    StreamToken,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from eventeye.core.alerts.stream import alert_stream
from eventeye.core.auth.dependencies import (
    AdminAccess,
    DbConn,
    ReadAccess,
    ReadConn,
    RuntimeDep,
    api_key_scheme,
    declare_access,
    oauth2_scheme,
    principal_from_credential,
)
from eventeye.core.auth.models import Principal, Scope
from eventeye.core.pagination import decode_cursor, encode_cursor
from eventeye.errors import Conflict, Forbidden, NotFound, Unauthorized

router = APIRouter(prefix="/v1", tags=["alerts"])

Limit = Annotated[int, Query(ge=1, le=1000)]
STREAM_DOC = {200: {"content": {"text/event-stream": {}}, "description": "`event: alert` frames; `: ping` comments"}}


@declare_access("read")
async def stream_reader(
    runtime: RuntimeDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
    token: Annotated[str | None, Query(description="A stream token from POST /v1/alerts/stream-token")] = None,
) -> Principal:
    """A user or app with ``read``, by header, or by a short-lived stream token in the query."""
    if token:
        principal = runtime.alerts.stream_principal(token)
    elif credential := api_key or bearer:
        principal = await principal_from_credential(runtime, credential)
    else:
        raise Unauthorized()
    if not principal.has(Scope.READ):
        raise Forbidden("the 'read' scope is required")
    return principal


StreamReader = Annotated[Principal, Depends(stream_reader)]


@router.get("/alerts/stream", response_class=EventSourceResponse, responses=STREAM_DOC)  # type: ignore[arg-type]
async def stream_alerts(
    request: Request,
    runtime: RuntimeDep,
    _: StreamReader,
    rule: str | None = None,
    module: str | None = None,
    since: Annotated[str | None, Query(description="Replay from an alert id (exclusive) or an ISO time")] = None,
) -> EventSourceResponse:
    """Alerts as they are raised (Server-Sent Events); `Last-Event-ID` or `since` replays what was missed."""
    return await alert_stream(request, runtime.alerts, rule=rule, module=module)


@router.post("/alerts/stream-token", response_model=StreamToken)
async def stream_token(runtime: RuntimeDep, principal: ReadAccess) -> StreamToken:
    """A short-lived token for opening the stream from a browser's EventSource."""
    token = runtime.alerts.issue_stream_token(principal)
    return StreamToken(token=token, expires_in=int(runtime.settings.alerts_stream_token_ttl.total_seconds()))


@router.get("/alerts", response_model=AlertPage)
async def list_alerts(
    conn: ReadConn,
    _: ReadAccess,
    rule: str | None = None,
    module: str | None = None,
    key: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Limit = 100,
    cursor: str | None = None,
) -> AlertPage:
    """Alerts newest first, by rule, module, key and time (`start` inclusive, `end` exclusive)."""
    where = AlertFilter(rule=rule, module=module, key=key, start=start, end=end)
    items = await alerts_repository.list_alerts(conn, where=where, limit=limit, after=decode_cursor(cursor))
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(items) == limit else None
    return AlertPage(items=[AlertItem.of(alert) for alert in items], next_cursor=next_cursor)


@router.get("/alerts/{alert_id}", response_model=AlertItem)
async def get_alert(alert_id: uuid.UUID, conn: ReadConn, _: ReadAccess) -> AlertItem:
    alert = await alerts_repository.get_alert(conn, alert_id=alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return AlertItem.of(alert)


# Webhooks


@router.post("/webhooks", status_code=201, response_model=WebhookCreated)
async def create_webhook(body: WebhookIn, conn: DbConn, _: AdminAccess) -> WebhookCreated:
    """Register a webhook; its signing secret is in this answer only."""
    webhook = Webhook(
        id=uuid.uuid4(),
        name=body.name,
        url=str(body.url),
        secret=secrets.token_urlsafe(32),
        max_attempts=body.max_attempts,
        created_at=datetime.now(UTC),
    )
    if not await alerts_repository.create_webhook(conn, webhook=webhook):
        raise Conflict(f"a webhook named {body.name!r} exists")
    return WebhookCreated(**WebhookOut.of(webhook).model_dump(), secret=webhook.secret)


@router.get("/webhooks", response_model=list[WebhookOut])
async def list_webhooks(conn: ReadConn, _: AdminAccess) -> list[WebhookOut]:
    return [WebhookOut.of(webhook) for webhook in await alerts_repository.list_webhooks(conn)]


async def _webhook(conn: ReadConn, name: str) -> Webhook:
    webhook = await alerts_repository.get_webhook(conn, name=name)
    if webhook is None:
        raise NotFound(f"no webhook {name!r}")
    return webhook


@router.get("/webhooks/{name}", response_model=WebhookOut)
async def get_webhook(name: str, conn: ReadConn, _: AdminAccess) -> WebhookOut:
    return WebhookOut.of(await _webhook(conn, name))


@router.delete("/webhooks/{name}", status_code=204)
async def delete_webhook(name: str, conn: DbConn, _: AdminAccess) -> Response:
    """Remove a webhook; its pending deliveries are dead-lettered when next attempted."""
    if not await alerts_repository.delete_webhook(conn, name=name):
        raise NotFound(f"no webhook {name!r}")
    return Response(status_code=204)


@router.get("/webhooks/{name}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    name: str,
    conn: ReadConn,
    _: AdminAccess,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
    limit: Limit = 100,
    cursor: str | None = None,
) -> DeliveryPage:
    """The webhook's delivery log, newest first; `status=dead` lists what was dead-lettered."""
    await _webhook(conn, name)
    items = await alerts_repository.list_deliveries(
        conn, channel="webhook", target=name, status=status, limit=limit, after=decode_cursor(cursor)
    )
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(items) == limit else None
    return DeliveryPage(items=[DeliveryItem.of(item) for item in items], next_cursor=next_cursor)


@router.post("/webhooks/{name}/deliveries/{delivery_id}/retry", status_code=202)
async def retry_delivery(
    name: str, delivery_id: uuid.UUID, conn: DbConn, runtime: RuntimeDep, _: AdminAccess
) -> dict[str, str]:
    """Queue a dead delivery again, with a fresh count of attempts."""
    if not await alerts_repository.retry_delivery(
        conn, delivery_id=delivery_id, channel="webhook", target=name, at=datetime.now(UTC)
    ):
        raise NotFound(f"no dead delivery {delivery_id} of webhook {name!r}")
    runtime.alerts.delivery.wake()
    return {"status": "pending"}
