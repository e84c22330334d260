"""The envelope every accepted event travels in, and its identity."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from uuid_utils.compat import uuid7


def new_event_id() -> uuid.UUID:
    """A time-ordered UUIDv7: keeps index inserts local, unlike random UUIDv4."""
    return uuid7()


@dataclass(frozen=True, slots=True)
class Envelope:
    """An accepted event: its identity, where it came from, and its raw body."""

    id: uuid.UUID
    module: str
    type: str
    source: str
    received_at: datetime
    body: bytes

    def payload(self) -> Any:
        return orjson.loads(self.body)

    def as_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "module": self.module,
            "type": self.type,
            "source": self.source,
            "received_at": self.received_at,
            "body": self.body,
        }


@dataclass(frozen=True, slots=True)
class Fact:
    """A stored event as the rules see it: flat attributes plus where and when."""

    event_id: uuid.UUID
    module: str
    type: str
    source: str
    occurred_at: datetime
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event did not become a stored event; lands in the ``errors`` table."""

    kind: str
    module: str
    reason: str
    field: str | None = None
    type: str | None = None
    source: str | None = None
    event_id: uuid.UUID | None = None
    raw: str | None = None
    received_at: datetime | None = None
