"""Opaque keyset cursors: the (time, id) of the last item of a page."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import orjson

from eventeye.errors import InvalidInput, field_detail


def encode_cursor(at: datetime, item_id: uuid.UUID) -> str:
    raw = orjson.dumps([at.isoformat(), str(item_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The position a cursor names, or ``InvalidInput`` naming the ``cursor`` parameter."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, item_id = orjson.loads(raw)
        return datetime.fromisoformat(at), uuid.UUID(item_id)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput(
            "invalid cursor", details=[field_detail("cursor", "not a cursor from a previous page")]
        ) from exc
