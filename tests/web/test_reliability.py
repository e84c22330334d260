"""Concurrency, backpressure, and crash safety of the accept -> inbox -> processor path."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.config import Settings
from eventeye.core.pipeline.inbox_file import count_inbox
from eventeye.core.storage.engine import create_engine
from eventeye.web.tables import web_events, web_sessions
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, login_headers
from tests.core.test_database_outage import drop_other_connections
from tests.fixtures.server import run_server, server_env
from tests.fixtures.waiting import eventually
from tests.lifespan import running
from tests.web.conftest import pageview, post, stored_count


async def session_projection(engine: AsyncEngine, session_id: str) -> int:
    async with engine.connect() as conn:
        count = await conn.execute(select(web_sessions.c.event_count).where(web_sessions.c.session_id == session_id))
        return int(count.scalar_one_or_none() or 0)


class TestConcurrentIngestion:
    async def test_many_clients_into_one_session_lose_and_double_nothing(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        engine: AsyncEngine,
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        async def one_client(n: int) -> list[str]:
            ids: list[str] = []
            for batch in range(5):
                events = [
                    pageview(session_id="shared", timestamp=f"2021-01-01 09:{n:02d}:{batch:02d}.{k:06d}")
                    for k in range(8)
                ]
                response = await post(client, ingest_headers, events)
                assert response.status_code == 202
                ids += response.json()["ids"]
            return ids

        results = await asyncio.gather(*(one_client(n) for n in range(20)))
        accepted = {event_id for ids in results for event_id in ids}
        assert len(accepted) == 20 * 5 * 8
        await drained()
        assert await stored_count(engine) == len(accepted)
        assert await session_projection(engine, "shared") == len(accepted)


class TestDatabaseOutage:
    async def test_a_lost_inbox_connection_answers_503_and_loses_nothing_accepted(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        database_url: str,
        backend: str,
    ) -> None:
        if backend != "postgresql":
            pytest.skip("SQLite has no server connections to lose")
        accepted: set[str] = set()
        statuses = []

        async def send(body: Any) -> None:
            response = await post(client, ingest_headers, body)
            statuses.append(response.status_code)
            if response.status_code == 202:
                accepted.update(response.json()["ids"])
            else:  # the pool may hand out a connection that died while idle: retryable, never a 500
                assert (response.status_code, response.json()["error"]["code"]) == (503, "unavailable")

        for round in range(4):
            await send(pageview(timestamp=f"2021-01-01 09:00:0{round}"))
            assert await drop_other_connections(database_url) >= 1
            await send([pageview(), pageview()])
        for _ in range(5):  # dead connections are dropped from the pool as they are met
            await send(pageview())
        assert statuses[-1] == 202, statuses
        # Read on connections of our own: the shared engine's idle ones were dropped too.
        reader = create_engine(database_url)
        try:

            async def stored() -> set[str]:
                async with reader.connect() as conn:
                    return {str(row.id) for row in await conn.execute(select(web_events.c.id))}

            await eventually(stored, lambda ids: ids == accepted, timeout=20)
            assert await count_inbox(reader) == 0
        finally:
            await reader.dispose()


class TestBackpressure:
    async def test_full_backlog_answers_429_with_retry_after(
        self, make_settings: Callable[..., Settings], engine: AsyncEngine
    ) -> None:
        # An API-only process: nothing drains the inbox, so the backlog only grows.
        app = create_app(make_settings(inbox_max_backlog=30), engine=engine, roles={"api"})
        transport = httpx.ASGITransport(app=app)
        async with running(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/users", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
            admin = await login_headers(client, ADMIN_USERNAME, ADMIN_PASSWORD)
            key = (await client.post("/v1/apps", json={"name": "a"}, headers=admin)).json()["key"]
            headers = {"X-API-Key": key}
            statuses = [(await post(client, headers, [pageview()] * 10)).status_code for _ in range(4)]
            assert statuses == [202, 202, 202, 429]
            refused = await post(client, headers, pageview())
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert await count_inbox(engine) == 30

            async def gauge() -> str:
                return (await client.get("/metrics")).text

            await eventually(gauge, lambda text: "eventeye_inbox_backlog 30.0" in text)


@pytest.mark.slow
class TestCrashSafety:
    async def test_killing_the_server_mid_processing_loses_and_doubles_nothing(
        self, database_url: str, engine: AsyncEngine, tmp_path: Path
    ) -> None:
        env = server_env(database_url, tmp_path / "data", EVENTEYE_PROCESSOR_BATCH_SIZE="200")
        accepted: set[str] = set()
        with run_server(env, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                await http.post("/users", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
                admin = await login_headers(http, ADMIN_USERNAME, ADMIN_PASSWORD)
                key = (await http.post("/v1/apps", json={"name": "a", "scopes": ["ingest"]}, headers=admin)).json()
                headers = {"X-API-Key": key["key"]}
                for batch in range(40):
                    events = [
                        pageview(session_id="crash", timestamp=f"2021-01-01 09:00:{batch:02d}.{k:06d}")
                        for k in range(250)
                    ]
                    accepted.update((await post(http, headers, events)).json()["ids"])
            server.kill()  # SIGKILL while the processor is still working through the backlog
        assert await count_inbox(engine) > 0, "the processor finished before the kill; the test proves nothing"
        with run_server(env, tmp_path):
            await eventually(lambda: count_inbox(engine), lambda n: n == 0, timeout=60)
        async with engine.connect() as conn:
            stored = {str(row[0]) for row in await conn.execute(select(web_events.c.id))}
        assert stored == accepted
        assert await session_projection(engine, "crash") == len(accepted)
