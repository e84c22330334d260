"""A server killed while it processes: after a restart, every alert is there once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.core.alerts.helpers import EVERY_PAGEVIEW, Server, pageview, prepare
from tests.fixtures.server import run_server, server_env

pytestmark = pytest.mark.slow

BATCHES, PER_BATCH = 8, 50


def alerts_of(server: Server) -> list[dict[str, object]]:
    response = httpx.get(f"{server.url}/v1/alerts", params={"limit": 1000}, headers=server.app, timeout=10)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_no_alert_is_lost_or_doubled(database_url: str, engine: AsyncEngine, tmp_path: Path) -> None:
    env = server_env(
        database_url,
        tmp_path / "data",
        EVENTEYE_RULES=orjson.dumps([EVERY_PAGEVIEW]).decode(),
        EVENTEYE_MODULES="web",
        EVENTEYE_PROCESSOR_BATCH_SIZE="20",
    )
    sent: list[str] = []
    with run_server(env, tmp_path / "first") as first:
        server = prepare(first.url)
        for batch in range(BATCHES):
            events = [pageview(f"s{batch}-{index}") for index in range(PER_BATCH)]
            sent += await asyncio.to_thread(server.post_events, events)
        first.kill()  # SIGKILL: some batches processed, others still in the inbox
    before = len(sent)
    with run_server(env, tmp_path / "second") as second:
        server = Server(url=second.url, admin=server.admin, app=server.app)
        for _ in range(300):
            found = await asyncio.to_thread(alerts_of, server)
            if len(found) >= before:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        found = await asyncio.to_thread(alerts_of, server)
    triggered = [item["event_ids"][0] for item in found]  # type: ignore[index]
    assert len(triggered) == len(set(triggered)) == before
    assert sorted(triggered) == sorted(sent)
