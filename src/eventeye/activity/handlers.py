"""Processing detections from the inbox: check, store idempotently on the event id, hand facts to the rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.activity import periods
from eventeye.activity import repository as activity_repository
from eventeye.activity import service as activity_service
from eventeye.activity.schemas import Detection
from eventeye.core.pipeline.envelope import Envelope, Rejection
from eventeye.core.pipeline.processor import HandlerContext, HandlerResult


def _payload(envelope: Envelope) -> dict[str, Any]:
    try:
        payload = orjson.loads(envelope.body)
    except orjson.JSONDecodeError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _check(envelope: Envelope, latest: int) -> Detection | Rejection:
    payload = _payload(envelope)
    checked = activity_service.check(payload.get("time"), payload.get("type"), payload.get("camera_id"), latest)
    if isinstance(checked, activity_service.Problem):
        raw = envelope.body.decode("utf-8", "replace")
        return activity_service.rejection(
            checked, source=envelope.source, raw=raw, received_at=envelope.received_at, event_id=envelope.id
        )
    return checked


class ActivityHandler:
    """Stores each detection once (on its event id) with its period boundaries; returns them as facts."""

    async def handle(self, conn: AsyncConnection, envelopes: Sequence[Envelope], ctx: HandlerContext) -> HandlerResult:
        result = HandlerResult()
        unique = {envelope.id: envelope for envelope in envelopes}
        stored = await activity_repository.stored_ids(conn, ids=list(unique))
        latest = activity_service.latest_allowed(ctx.now, ctx.settings.clock_skew)
        accepted: list[tuple[Detection, Envelope]] = []
        for envelope in unique.values():
            if envelope.id in stored:
                continue
            checked = _check(envelope, latest)
            if isinstance(checked, Rejection):
                result.rejected.append(checked)
            else:
                accepted.append((checked, envelope))
        accepted.sort(key=lambda pair: pair[0][1])
        batch = periods.flag([detection for detection, _ in accepted])
        await activity_service.store(conn, batch, ids=[envelope.id for _, envelope in accepted])
        result.stored = [activity_service.fact(d, event_id=e.id, source=e.source) for d, e in accepted]
        return result
