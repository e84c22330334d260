"""Processing web events: timestamps, payload schemas, idempotent storage, the sessions projection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.pipeline.envelope import Envelope, Fact, Rejection
from eventeye.core.pipeline.processor import HandlerContext, HandlerResult
from eventeye.web import repository as web_repository
from eventeye.web.schemas import MODULE
from eventeye.web.service import parse_timestamp


def _reject(envelope: Envelope, kind: str, field: str, reason: str) -> Rejection:
    return Rejection(
        kind=kind,
        module=MODULE,
        reason=reason,
        field=field,
        type=envelope.type,
        source=envelope.source,
        event_id=envelope.id,
        raw=envelope.body.decode("utf-8", "replace"),
        received_at=envelope.received_at,
    )


def _check(envelope: Envelope, payload: dict[str, Any], ctx: HandlerContext) -> tuple[datetime, bool] | Rejection:
    """The event's instant and whether its type is known, or why it is rejected."""
    try:
        occurred_at = parse_timestamp(str(payload["timestamp"]))
    except ValueError:
        return _reject(envelope, "invalid_timestamp", "timestamp", f"cannot parse {payload['timestamp']!r}")
    if occurred_at > ctx.now + ctx.settings.clock_skew:
        return _reject(envelope, "future_timestamp", "timestamp", f"{occurred_at.isoformat()} is in the future")
    known = ctx.registry.knows(MODULE, envelope.type)
    if not known and ctx.settings.strict_types:
        return _reject(envelope, "unknown_type", "category", f"no schema for event type {envelope.type!r}")
    violation = ctx.registry.validate(MODULE, envelope.type, payload.get("data", {}))
    if violation is not None:
        field = "data" if violation.field == "$" else f"data.{violation.field}"
        return _reject(envelope, "invalid_payload", field, violation.reason)
    return occurred_at, known


def _session_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sessions: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = sessions.get(row["session_id"])
        if current is None:
            sessions[row["session_id"]] = {
                "session_id": row["session_id"],
                "first_seen": row["occurred_at"],
                "last_seen": row["occurred_at"],
                "event_count": 1,
            }
            continue
        current["first_seen"] = min(current["first_seen"], row["occurred_at"])
        current["last_seen"] = max(current["last_seen"], row["occurred_at"])
        current["event_count"] += 1
    return list(sessions.values())


class WebHandler:
    """Validates and stores web events; unknown types are stored and flagged unless strict."""

    async def handle(self, conn: AsyncConnection, envelopes: Sequence[Envelope], ctx: HandlerContext) -> HandlerResult:
        result = HandlerResult()
        rows: dict[Any, dict[str, Any]] = {}
        for envelope in envelopes:
            payload = orjson.loads(envelope.body)
            checked = _check(envelope, payload, ctx)
            if isinstance(checked, Rejection):
                result.rejected.append(checked)
                continue
            occurred_at, known = checked
            rows.setdefault(
                envelope.id,
                {
                    "id": envelope.id,
                    "session_id": payload["session_id"],
                    "category": payload["category"],
                    "name": payload["name"],
                    "occurred_at": occurred_at,
                    "received_at": envelope.received_at,
                    "app": envelope.source,
                    "known_type": known,
                    "data": payload.get("data", {}),
                },
            )
        inserted = await web_repository.insert_events(conn, rows=list(rows.values()))
        new_rows = [row for row in rows.values() if row["id"] in inserted]
        await web_repository.upsert_sessions(conn, rows=_session_rows(new_rows))
        result.stored = [_fact(row) for row in new_rows]
        return result


def _fact(row: dict[str, Any]) -> Fact:
    return Fact(
        event_id=row["id"],
        module=MODULE,
        type=f"{row['category']}/{row['name']}",
        source=row["app"],
        occurred_at=row["occurred_at"],
        attributes={
            "session_id": row["session_id"],
            "category": row["category"],
            "name": row["name"],
            "app": row["app"],
            "data": row["data"],
        },
    )
