"""A lost database connection answers 503 (retryable), never 500, and the next request reconnects."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.config import Settings
from eventeye.core.storage.engine import create_engine
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, login_headers
from tests.lifespan import running


async def drop_other_connections(database_url: str) -> int:
    killer = create_engine(database_url)
    try:
        async with killer.connect() as conn:
            killed = await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return int(killed.scalar_one())
    finally:
        await killer.dispose()


@pytest.fixture
async def api_client(
    make_settings: Callable[..., Settings], engine: AsyncEngine, backend: str
) -> AsyncIterator[httpx.AsyncClient]:
    if backend != "postgresql":
        pytest.skip("SQLite has no server connections to lose")
    # HTTP only and no module: few background tasks to find the dead connections first.
    app = create_app(make_settings(), engine=engine, roles={"api"}, modules=[])
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_dropped_connections_answer_503_then_recover(api_client: httpx.AsyncClient, database_url: str) -> None:
    await api_client.post("/users", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    headers = await login_headers(api_client, ADMIN_USERNAME, ADMIN_PASSWORD)
    statuses = []
    for _ in range(5):  # a background task may meet the dead connection first and reconnect the pool
        assert (await api_client.get("/v1/apps", headers=headers)).status_code == 200
        assert await drop_other_connections(database_url) >= 1
        lost = await api_client.get("/v1/apps", headers=headers)
        statuses.append(lost.status_code)
        if lost.status_code == 503:
            assert lost.json()["error"]["code"] == "unavailable"
            assert lost.headers["retry-after"] == "1"
            break
    assert statuses[-1] == 503, statuses
    assert set(statuses) <= {200, 503}
    assert (await api_client.get("/v1/apps", headers=headers)).status_code == 200
