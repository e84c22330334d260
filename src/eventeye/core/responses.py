"""A JSON response rendered by orjson (fast, and handles UUIDs and datetimes)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.responses import JSONResponse


def _default(value: Any) -> Any:
    # Drivers return subclasses of UUID (asyncpg) that orjson does not take as UUIDs.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default, option=orjson.OPT_NON_STR_KEYS)


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)
