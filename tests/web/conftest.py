"""Fixtures of the web module's tests: keys, sample events and a way to wait for processing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.pipeline.inbox_file import count_inbox
from eventeye.web.tables import web_events
from tests.fixtures.waiting import eventually

SESSION = "e2085be5-9137-4e4e-80b5-f1ffddc25423"


def pageview(session_id: str = SESSION, timestamp: str = "2021-01-01 09:15:27.243860", **extra: Any) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "www.consumeraffairs.com", "path": "/"},
        "timestamp": timestamp,
        **extra,
    }


@pytest.fixture
async def ingest_headers(make_app_key: Callable[..., Awaitable[str]]) -> dict[str, str]:
    """An application allowed to ingest and read."""
    return {"Authorization": f"Bearer {await make_app_key('ingest', 'read', name='shop')}"}


@pytest.fixture
def drained(engine: AsyncEngine) -> Callable[[], Awaitable[None]]:
    """Wait until the processor has emptied the inbox."""

    async def wait() -> None:
        await eventually(lambda: count_inbox(engine), lambda n: n == 0)

    return wait


async def stored_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(web_events))).scalar_one())


async def post(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.post("/v1/events", json=body, headers=headers)
