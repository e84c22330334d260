"""API shapes of the pipeline's own endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class ErrorItem(BaseModel):
    id: uuid.UUID
    kind: str
    module: str
    type: str | None
    app: str | None
    event_id: uuid.UUID | None
    field: str | None
    reason: str
    raw: str | None
    received_at: datetime | None
    created_at: datetime


class ErrorPage(BaseModel):
    items: list[ErrorItem]
    next_cursor: str | None
