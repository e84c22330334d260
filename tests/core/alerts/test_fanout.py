"""Two real server processes on one PostgreSQL: every SSE client gets every alert exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest

from tests.core.alerts.helpers import EVERY_PAGEVIEW, Server, pageview, prepare, sse
from tests.fixtures.databases import migrate
from tests.fixtures.server import run_server, server_env

pytestmark = pytest.mark.slow

ALERTS = 30


async def test_every_client_of_every_process_gets_every_alert_once(blank_postgres_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(migrate, blank_postgres_url)
    env = server_env(
        blank_postgres_url,
        tmp_path / "data",
        EVENTEYE_RULES=orjson.dumps([EVERY_PAGEVIEW]).decode(),
        EVENTEYE_MODULES="web",
    )
    with run_server(env, tmp_path / "a") as first, run_server(env, tmp_path / "b") as second:
        one = prepare(first.url)
        two = Server(url=second.url, admin=one.admin, app=one.app)
        async with (
            httpx.AsyncClient(timeout=30) as http,
            sse(http, f"{one.url}/v1/alerts/stream", one.app) as a1,
            sse(http, f"{one.url}/v1/alerts/stream", one.app) as a2,
            sse(http, f"{two.url}/v1/alerts/stream", two.app) as b1,
            sse(http, f"{two.url}/v1/alerts/stream", two.app) as b2,
        ):
            sent: list[str] = []
            for index in range(ALERTS):
                target = one if index % 2 else two
                sent += await asyncio.to_thread(target.post_events, [pageview(f"s{index}")])
            clients = [a1, a2, b1, b2]
            for client in clients:
                await client.wait_for(ALERTS, within=30)
            await asyncio.sleep(1.0)  # time for any duplicate to show up
            expected = sorted(sent)
            for client in clients:
                assert len(client.events) == ALERTS
                assert sorted(event["data"]["event_ids"][0] for event in client.events) == expected
        log = first.log() + second.log()
        assert "alerts-feed" in log
