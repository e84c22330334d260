"""The web module's event envelope, built-in payload schemas and API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MODULE = "web"


class WebEventIn(BaseModel):
    """One event as an application sends it."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID | None = Field(default=None, description="Client-chosen id; re-sending it never duplicates")
    session_id: str = Field(min_length=1, max_length=255)
    category: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)
    data: dict[str, Any] = Field(default_factory=dict)
    timestamp: str = Field(
        min_length=1,
        max_length=64,
        description="When it occurred: `2021-01-01 09:15:27.243860` (UTC) or ISO 8601 with a zone",
    )


def event_type(category: str, name: str) -> str:
    return f"{category}/{name}"


_PAGE = {"host": {"type": "string", "minLength": 1}, "path": {"type": "string", "minLength": 1}}

BUILTIN_SCHEMAS: dict[str, dict[str, Any]] = {
    event_type("page interaction", "pageview"): {
        "type": "object",
        "required": ["host", "path"],
        "properties": _PAGE,
    },
    event_type("page interaction", "cta click"): {
        "type": "object",
        "required": ["host", "path", "element"],
        "properties": {**_PAGE, "element": {"type": "string", "minLength": 1}},
    },
    event_type("form interaction", "submit"): {
        "type": "object",
        "required": ["host", "path", "form"],
        "properties": {**_PAGE, "form": {"type": "object"}},
    },
}


class Accepted(BaseModel):
    accepted: int
    ids: list[uuid.UUID]


class EventOut(BaseModel):
    id: uuid.UUID
    session_id: str
    category: str
    name: str
    data: dict[str, Any]
    timestamp: datetime
    received_at: datetime
    app: str
    known_type: bool


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class StatsCount(BaseModel):
    key: str
    count: int


class Stats(BaseModel):
    group_by: Literal["category", "name", "app", "type"]
    total: int
    counts: list[StatsCount]
    unknown_types: int
    errors: dict[str, int]
