"""Building events: validation up front, a client-side id, and the JSON each event travels as."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from uuid_utils.compat import uuid7

from eventeye.client._exceptions import InvalidEvent

REQUIRED = ("session_id", "category", "name")


@dataclass(frozen=True, slots=True)
class Queued:
    """An event in the buffer: its order, id, JSON body and when it was buffered (monotonic)."""

    seq: int
    id: uuid.UUID
    body: bytes
    at: float

    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value


def new_event_id() -> uuid.UUID:
    """A time-ordered UUIDv7: eventeye's indexes take these in order, and re-sending it never duplicates."""
    return uuid7()


def timestamp_text(value: datetime | str | None) -> str:
    """ISO 8601 for a datetime (naive means UTC), a string as given, now when ``None``."""
    if value is None:
        return datetime.now(UTC).isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value
    raise InvalidEvent("timestamp must be a datetime or a non-empty string")


def prepare(event: Mapping[str, Any]) -> tuple[uuid.UUID, bytes]:
    """Check an event and encode it, giving it an ``id`` and a ``timestamp`` when it has none."""
    if not isinstance(event, Mapping):
        raise InvalidEvent("an event must be a JSON object")
    for field in REQUIRED:
        value = event.get(field)
        if not isinstance(value, str) or not value:
            raise InvalidEvent(f"{field} must be a non-empty string")
    data = event.get("data", {})
    if not isinstance(data, Mapping):
        raise InvalidEvent("data must be a JSON object")
    event_id = _event_id(event.get("id"))
    complete = {**event, "id": str(event_id), "data": dict(data), "timestamp": timestamp_text(event.get("timestamp"))}
    try:
        return event_id, orjson.dumps(complete)
    except TypeError as exc:
        raise InvalidEvent(f"the event is not JSON-serialisable: {exc}") from exc


def _event_id(value: Any) -> uuid.UUID:
    if value is None:
        return new_event_id()
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidEvent("id must be a UUID") from exc


def encode_batch(events: list[Queued]) -> bytes:
    """A JSON array of the events, built from their encoded bodies."""
    return b"[" + b",".join(event.body for event in events) + b"]"
