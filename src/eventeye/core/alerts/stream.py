"""The alert stream as Server-Sent Events, for ``/v1/alerts/stream`` and for modules' own routes.

A module serves the same stream filtered to itself::

    @router.get("/alerts")
    async def alerts(request: Request, runtime: RuntimeDep, _: VehiclesUser) -> EventSourceResponse:
        return await alert_stream(request, runtime.alerts, module="vehicles")

Each event is ``event: alert``, ``id: <alert id>``, ``data: <alert JSON>``
(or what ``render`` makes of the alert). A client that reconnects with
``Last-Event-ID`` (or ``?since=<alert id or ISO time>``) first gets what it
missed from the history, then the live alerts, each once. Comments keep the
connection alive; a client that falls behind is disconnected.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from eventeye.core.alerts import repository as alerts_repository
from eventeye.core.alerts.hub import Dropped, Published, sse_frame
from eventeye.core.alerts.repository import Alert, AlertFilter, Position
from eventeye.core.alerts.service import Alerts
from eventeye.core.responses import dumps
from eventeye.core.storage.engine import read_transaction
from eventeye.errors import InvalidInput, field_detail

logger = logging.getLogger("eventeye.alerts.stream")

Render = Callable[[Alert], Any]
REPLAY_PAGE = 500


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a reconnecting client resumes: after an alert, or from a time."""

    after_id: uuid.UUID | None = None
    since: datetime | None = None


def resume_point(last_event_id: str | None, since: str | None) -> Resume | None:
    """From ``Last-Event-ID`` (preferred) or ``?since=``; ``InvalidInput`` naming the bad one."""
    for name, value in (("Last-Event-ID", last_event_id), ("since", since)):
        if not value:
            continue
        try:
            return Resume(after_id=uuid.UUID(value))
        except ValueError:
            pass
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(
                f"invalid {name}", details=[field_detail(name, "not an alert id or an ISO 8601 time")]
            ) from None
        if at.tzinfo is None:
            raise InvalidInput(f"invalid {name}", details=[field_detail(name, "a time needs its UTC offset")])
        return Resume(since=at)
    return None


async def alert_stream(
    request: Request,
    alerts: Alerts,
    *,
    rule: str | None = None,
    module: str | None = None,
    render: Render | None = None,
) -> EventSourceResponse:
    """An SSE response of the alerts matching ``rule``/``module``, resuming where the client left off."""
    resume = resume_point(request.headers.get("last-event-id"), request.query_params.get("since"))
    events = _events(alerts, rule=rule, module=module, resume=resume, render=render)
    return EventSourceResponse(
        events,
        ping=alerts.settings.alerts_heartbeat.total_seconds(),
        # No per-send timeout: it costs a cancel scope per frame and client. A client that
        # stops reading is dropped by its bounded queue instead; its stream ends when it reads again.
        send_timeout=None,
        headers={"Cache-Control": "no-store"},
    )


def _encode(alert: Alert, render: Render | None, published: Published | None = None) -> bytes:
    if render is None:
        return published.frame if published else sse_frame(str(alert.id), dumps(alert.as_json()).decode())
    return ServerSentEvent(data=dumps(render(alert)).decode(), event="alert", id=str(alert.id)).encode()


async def _events(
    alerts: Alerts, *, rule: str | None, module: str | None, resume: Resume | None, render: Render | None
) -> AsyncIterator[bytes]:
    # Subscribe before reading the history, so that nothing falls in between.
    with alerts.hub.subscribe(rule=rule, module=module) as subscription:
        replayed: set[uuid.UUID] = set()
        if resume is not None:
            async for alert in _history(alerts, rule=rule, module=module, resume=resume):
                replayed.add(alert.id)
                yield _encode(alert, render)
        while True:
            try:
                published = await subscription.next()
            except Dropped:
                logger.info("an alert stream client fell behind and was disconnected")
                return
            if published.alert.id in replayed:
                continue
            yield _encode(published.alert, render, published)


async def _history(alerts: Alerts, *, rule: str | None, module: str | None, resume: Resume) -> AsyncIterator[Alert]:
    where = AlertFilter(rule=rule, module=module, start=resume.since)
    after: Position | None = None
    async with read_transaction(alerts.engine) as conn:
        if resume.after_id is not None:
            anchor = await alerts_repository.get_alert(conn, alert_id=resume.after_id)
            if anchor is None:
                return  # an id we do not know (purged, or from elsewhere): live alerts only
            after = (anchor.created_at, anchor.id)
    remaining = alerts.settings.alerts_replay_limit
    while remaining > 0:
        async with read_transaction(alerts.engine) as conn:
            page = await alerts_repository.alerts_after(
                conn, where=where, after=after, limit=min(REPLAY_PAGE, remaining)
            )
        for alert in page:
            yield alert
        remaining -= len(page)
        if len(page) < REPLAY_PAGE:
            return
        after = (page[-1].created_at, page[-1].id)
