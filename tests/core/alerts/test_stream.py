"""The SSE stream of a real server: live alerts, replay with Last-Event-ID and since, query tokens, heartbeats."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.core.alerts.helpers import EVERY_PAGEVIEW, Server, pageview, prepare, sse
from tests.fixtures.server import run_server, server_env

pytestmark = pytest.mark.slow


@pytest.fixture
def server(database_url: str, engine: AsyncEngine, tmp_path: Path) -> Iterator[Server]:
    env = server_env(
        database_url,
        tmp_path / "data",
        EVENTEYE_RULES=orjson.dumps([EVERY_PAGEVIEW]).decode(),
        EVENTEYE_ALERTS_HEARTBEAT="0.3",
        EVENTEYE_MODULES="web",
    )
    with run_server(env, tmp_path) as process:
        yield prepare(process.url)


async def test_alerts_arrive_live_in_order_with_their_ids(server: Server) -> None:
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        sse(http, "/v1/alerts/stream", server.app) as client,
    ):
        sent = [server.post_events([pageview(f"s{index}")])[0] for index in range(3)]
        events = await client.wait_for(3)
    assert [event["event"] for event in events] == ["alert"] * 3
    assert [event["data"]["event_ids"] for event in events] == [[event_id] for event_id in sent]
    assert [event["id"] for event in events] == [event["data"]["id"] for event in events]
    assert {event["data"]["rule"] for event in events} == {"web.pageview"}


async def test_last_event_id_replays_what_was_missed_then_goes_live(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        async with sse(http, "/v1/alerts/stream", server.app) as first:
            server.post_events([pageview("s1"), pageview("s2"), pageview("s3")])
            await first.wait_for(3)
            ids = first.ids
        resume = {**server.app, "Last-Event-ID": ids[0]}
        async with sse(http, "/v1/alerts/stream", resume) as again:
            await again.wait_for(2)
            server.post_events([pageview("s4")])
            await again.wait_for(3)
            assert again.ids[:2] == ids[1:]
            assert len(set(again.ids)) == 3


async def test_since_accepts_an_alert_id_or_a_time(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        async with sse(http, "/v1/alerts/stream", server.app) as live:
            server.post_events([pageview("s1"), pageview("s2")])
            events = await live.wait_for(2)
        by_time = {"since": events[0]["data"]["created_at"]}
        async with sse(http, f"/v1/alerts/stream?{httpx.QueryParams(by_time)}", server.app) as replay:
            assert [event["id"] for event in await replay.wait_for(2)] == [event["id"] for event in events]
        async with sse(http, f"/v1/alerts/stream?since={events[0]['id']}", server.app) as replay:
            assert [event["id"] for event in await replay.wait_for(1)] == [events[1]["id"]]


async def test_a_query_token_opens_it_and_heartbeats_keep_it_alive(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        token = (await http.post("/v1/alerts/stream-token", headers=server.app)).json()["token"]
        async with sse(http, f"/v1/alerts/stream?token={token}") as client:
            server.post_events([pageview("s1")])
            await client.wait_for(1)
            for _ in range(200):
                if client.comments:
                    break
                await asyncio.sleep(0.01)
            assert client.comments, "no heartbeat comment arrived"


async def test_filters_by_rule_and_module(server: Server) -> None:
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        sse(http, "/v1/alerts/stream", server.app) as everything,
        sse(http, "/v1/alerts/stream?module=vehicles", server.app) as vehicles,
        sse(http, "/v1/alerts/stream?rule=web.pageview", server.app) as pageviews,
    ):
        server.post_events([pageview("s1")])
        await everything.wait_for(1)
        await pageviews.wait_for(1)
        assert vehicles.events == []
