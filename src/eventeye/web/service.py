"""The web module's logic: reading a request body into envelopes, and the queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from eventeye.core.pipeline.envelope import Envelope, Rejection, new_event_id
from eventeye.errors import BadRequest, InvalidInput, PayloadTooLarge, field_detail
from eventeye.web.repository import GroupBy
from eventeye.web.schemas import MODULE, WebEventIn, event_type

_items_adapter = TypeAdapter(list[WebEventIn])
RAW_LIMIT = 8192


class RejectedBatch(Exception):
    """A request whose events were refused as a whole; carries what to record and answer."""

    def __init__(self, error: BadRequest | InvalidInput, rejections: list[Rejection]) -> None:
        super().__init__(error.message)
        self.error = error
        self.rejections = rejections


def _rejected(kind: str, source: str, field: str, reason: str, raw: bytes | str) -> Rejection:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return Rejection(
        kind=kind, module=MODULE, reason=reason, field=field, source=source, raw=text[:RAW_LIMIT], received_at=now()
    )


def now() -> datetime:
    return datetime.now(UTC)


def parse_body(body: bytes, *, ndjson: bool, source: str) -> list[Any]:
    """The items of a JSON object, JSON array or NDJSON body; ``RejectedBatch`` if it is not JSON."""
    try:
        if ndjson:
            return [orjson.loads(line) for line in body.splitlines() if line.strip()]
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = f"not valid JSON: {exc}"
        error = BadRequest("the body is not valid JSON", details=[field_detail("body", reason)])
        raise RejectedBatch(error, [_rejected("malformed", source, "body", reason, body)]) from exc
    return parsed if isinstance(parsed, list) else [parsed]


def check_items(items: list[Any], *, source: str, max_items: int) -> list[WebEventIn]:
    """Validate every item's envelope; any broken item refuses the whole request with per-item details."""
    if not items:
        raise InvalidInput("no events in the body", details=[field_detail("body", "expected at least one event")])
    if len(items) > max_items:
        raise PayloadTooLarge(
            f"at most {max_items} events per request",
            details=[field_detail("body", f"{len(items)} events; the limit is {max_items}")],
        )
    try:
        return _items_adapter.validate_python(items)
    except ValidationError as exc:
        details, rejections = [], []
        for problem in exc.errors():
            index, *path = problem["loc"]
            field = ".".join(str(part) for part in path) or "$"
            details.append(field_detail(field, problem["msg"], index=index))
            raw = orjson.dumps(items[int(index)], default=str) if isinstance(index, int) else b""
            rejections.append(_rejected("malformed", source, field, problem["msg"], raw))
        error = InvalidInput(f"{len(rejections)} problem(s) in the events; none was accepted", details=details)
        raise RejectedBatch(error, rejections) from exc


def to_envelopes(items: Sequence[WebEventIn], raw_items: Sequence[Any], *, source: str) -> list[Envelope]:
    received_at = now()
    envelopes = []
    for item, raw in zip(items, raw_items, strict=True):
        envelopes.append(
            Envelope(
                id=item.id or new_event_id(),
                module=MODULE,
                type=event_type(item.category, item.name),
                source=source,
                received_at=received_at,
                body=orjson.dumps(raw),
            )
        )
    return envelopes


def parse_timestamp(value: str) -> datetime:
    """``2021-01-01 09:15:27.243860`` (no zone: UTC) or ISO 8601; ``ValueError`` otherwise."""
    parsed = datetime.fromisoformat(value.strip())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def group_by_key(value: str) -> GroupBy:
    if value not in ("category", "name", "app", "type"):
        raise InvalidInput("invalid group_by", details=[field_detail("group_by", "one of category, name, app, type")])
    return value  # type: ignore[return-value]
