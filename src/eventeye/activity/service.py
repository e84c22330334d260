"""The activity module's logic: checking detections, storing them with their period boundaries, finding periods."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.activity import periods
from eventeye.activity import repository as activity_repository
from eventeye.activity.schemas import (
    CAMERA_MAX_LENGTH,
    DEFAULT_CAMERA,
    EVENT_TYPE,
    GROUP_OF_KIND,
    GROUPS,
    KIND_OF,
    MODULE,
    TYPES,
    Detection,
)
from eventeye.core.pipeline.envelope import Envelope, Fact, Rejection, new_event_id
from eventeye.errors import BadRequest, EventeyeError, InvalidInput, PayloadTooLarge, field_detail

RAW_LIMIT = 8192


class Problem(NamedTuple):
    """Why a detection is refused: the ``errors`` kind, the field and the reason."""

    kind: str
    field: str
    reason: str


def parse_time(value: Any) -> int:
    """Epoch microseconds of an ISO 8601 string or a datetime (no zone: UTC); ``ValueError`` otherwise."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return periods.to_micros(moment)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from exc


def check(time: Any, type: Any, camera_id: Any, latest: int) -> Detection | Problem:
    """The detection, or why it is refused; ``latest`` is the latest time accepted (epoch µs)."""
    kind = KIND_OF.get(type)
    if kind is None:
        return Problem("unknown_type", "type", f"{type!r} is not one of {', '.join(TYPES)}")
    try:
        time_us = parse_time(time)
    except ValueError as exc:
        return Problem("invalid_timestamp", "time", str(exc))
    if time_us > latest:
        return Problem("future_timestamp", "time", f"{periods.from_micros(time_us).isoformat()} is in the future")
    if camera_id is None:
        camera_id = DEFAULT_CAMERA
    elif not isinstance(camera_id, str) or not 0 < len(camera_id) <= CAMERA_MAX_LENGTH:
        reason = f"must be a string of 1 to {CAMERA_MAX_LENGTH} characters"
        return Problem("invalid_payload", "camera_id", reason)
    return (camera_id, time_us, kind, GROUP_OF_KIND[kind])


def latest_allowed(now: datetime, skew: timedelta) -> int:
    """The latest acceptable detection time: now plus the allowed clock skew."""
    return periods.to_micros(now + skew)


def rejection(problem: Problem, *, source: str, raw: str, received_at: datetime, **extra: Any) -> Rejection:
    return Rejection(
        kind=problem.kind,
        module=MODULE,
        reason=problem.reason,
        field=problem.field,
        type=EVENT_TYPE,
        source=source,
        raw=raw[:RAW_LIMIT],
        received_at=received_at,
        **extra,
    )


async def store(conn: AsyncConnection, batch: periods.Flagged, *, ids: Sequence[uuid.UUID] | None) -> None:
    """Store a flagged batch and keep the period boundaries exact; ``ids`` (in row order) for pipeline events.

    Without ids the rows are bulk-loaded (COPY on PostgreSQL). Writers of the
    same cameras are serialised, so that each sees the other's rows.
    """
    if not batch.rows:
        return
    spans = batch.spans
    await activity_repository.lock_cameras(conn, cameras=[camera for camera, _ in spans])
    latest = await activity_repository.latest_times(conn, keys=spans)
    if ids is None:
        await activity_repository.copy_detections(conn, rows=batch.rows)
    else:
        await activity_repository.insert_detections(conn, rows=batch.rows, ids=ids)
    ranges = periods.settle_ranges(spans, latest)
    await activity_repository.settle(conn, ranges=ranges, gap=periods.DEFAULT_GAP_US)


def fact(detection: Detection | periods.FlaggedRow, *, event_id: uuid.UUID, source: str) -> Fact:
    """A stored detection as the rules see it."""
    kind = detection[2]
    return Fact(
        event_id=event_id,
        module=MODULE,
        type=EVENT_TYPE,
        source=source,
        occurred_at=periods.from_micros(detection[1]),
        attributes={"camera_id": detection[0], "type": TYPES[kind], "group": GROUPS[detection[3]]},
    )


async def find_periods(
    conn: AsyncConnection,
    *,
    camera_id: str = DEFAULT_CAMERA,
    start: datetime | None = None,
    end: datetime | None = None,
    gap_seconds: float = periods.DEFAULT_GAP_US / 1e6,
) -> periods.PeriodsByGroup:
    """Periods of ``camera_id``'s detections in ``[start, end)``, merging those less than ``gap_seconds`` apart."""
    gap = round(gap_seconds * 1_000_000)
    if gap <= 0:
        raise InvalidInput("gap_seconds must be positive", details=[field_detail("gap_seconds", "must be > 0")])
    rows = await activity_repository.find_periods(
        conn,
        camera_id=camera_id,
        start=None if start is None else parse_time(start),
        end=None if end is None else parse_time(end),
        gap=gap,
        stored=gap == periods.DEFAULT_GAP_US,
    )
    return periods.shape(rows)


# Requests


class RejectedBatch(Exception):
    """A request refused as a whole; carries the answer and what to record in ``errors``."""

    def __init__(self, error: EventeyeError, rejections: list[Rejection]) -> None:
        super().__init__(error.message)
        self.error = error
        self.rejections = rejections


class Item(NamedTuple):
    """A checked detection of a request, with its event id and its normalised body."""

    detection: Detection
    id: uuid.UUID
    body: bytes


FIELDS = frozenset({"id", "time", "type", "camera_id"})


def parse_body(body: bytes, *, ndjson: bool, source: str, received_at: datetime) -> list[Any]:
    """The items of a JSON object, a JSON array or NDJSON; ``RejectedBatch`` when it is not JSON."""
    try:
        if ndjson:
            return [orjson.loads(line) for line in body.splitlines() if line.strip()]
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        problem = Problem("malformed", "body", f"not valid JSON: {exc}")
        error = BadRequest("the body is not valid JSON", details=[field_detail("body", problem.reason)])
        raw = body.decode("utf-8", "replace")
        raise RejectedBatch(error, [rejection(problem, source=source, raw=raw, received_at=received_at)]) from exc
    return parsed if isinstance(parsed, list) else [parsed]


def _check_item(item: Any, latest: int) -> Item | Problem:
    if not isinstance(item, dict):
        return Problem("malformed", "$", "must be a JSON object")
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        return Problem("malformed", unknown[0], "is not a field of a detection")
    for name in ("time", "type"):
        if item.get(name) is None:
            return Problem("malformed", name, "is required")
    try:
        event_id = uuid.UUID(item["id"]) if item.get("id") is not None else new_event_id()
    except (TypeError, ValueError, AttributeError):
        return Problem("malformed", "id", "must be a UUID")
    checked = check(item["time"], item["type"], item.get("camera_id"), latest)
    if isinstance(checked, Problem):
        return checked
    body = orjson.dumps({"time": item["time"], "type": item["type"], "camera_id": checked[0]})
    return Item(checked, event_id, body)


def check_items(items: list[Any], *, source: str, latest: int, max_items: int, received_at: datetime) -> list[Item]:
    """Check every item; any bad one refuses the request, with a detail per problem."""
    if not items:
        raise InvalidInput("no detections in the body", details=[field_detail("body", "expected at least one")])
    if len(items) > max_items:
        detail = field_detail("body", f"{len(items)} detections; the limit is {max_items}")
        raise PayloadTooLarge(f"at most {max_items} detections per request", details=[detail])
    checked = [_check_item(item, latest) for item in items]
    problems = [(index, c) for index, c in enumerate(checked) if isinstance(c, Problem)]
    if problems:
        details = [field_detail(p.field, p.reason, index=index) for index, p in problems]
        rejections = [
            rejection(p, source=source, raw=orjson.dumps(items[index]).decode(), received_at=received_at)
            for index, p in problems
        ]
        error = InvalidInput(f"{len(problems)} problem(s) in the detections; none was accepted", details=details)
        raise RejectedBatch(error, rejections)
    return [c for c in checked if isinstance(c, Item)]


def to_envelopes(items: Sequence[Item], *, source: str, received_at: datetime) -> list[Envelope]:
    return [
        Envelope(id=item.id, module=MODULE, type=EVENT_TYPE, source=source, received_at=received_at, body=item.body)
        for item in items
    ]


# Rules

PRESENCE_RULE = "activity.presence"


def presence_rule(streak: int) -> dict[str, Any]:
    """The default presence alert: a camera's last ``streak`` detections are all people.

    One alert per streak; a vehicle detection breaks the streak and re-arms it.
    The rules engine keeps the streak per camera in O(1) and across restarts.
    """
    return {
        "name": PRESENCE_RULE,
        "kind": "consecutive",
        "description": f"A person in each of the last {streak} detections of the camera",
        "types": [EVENT_TYPE],
        "key": ["camera_id"],
        "when": [{"field": "group", "op": "equals", "value": GROUPS[0]}],
        "count": streak,
    }
