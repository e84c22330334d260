"""``eventeye worker`` serves its own Prometheus metrics: with ``api`` and ``worker`` apart, processing is visible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.config import Settings
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, login_headers
from tests.fixtures.server import free_port, run_server, server_env
from tests.fixtures.waiting import eventually
from tests.lifespan import running
from tests.web.conftest import pageview, post

pytestmark = pytest.mark.slow


async def test_worker_serves_its_processing_metrics(
    database_url: str, make_settings: Callable[..., Settings], engine: AsyncEngine, tmp_path: Path
) -> None:
    port = free_port()
    env = server_env(database_url, tmp_path / "data", EVENTEYE_WORKER_METRICS_PORT=str(port))
    app = create_app(make_settings(), engine=engine, roles={"api"})  # accepts; processes nothing
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.post("/users", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
        admin = await login_headers(client, ADMIN_USERNAME, ADMIN_PASSWORD)
        key = (await client.post("/v1/apps", json={"name": "a"}, headers=admin)).json()["key"]
        assert (await post(client, {"X-API-Key": key}, [pageview()] * 3)).status_code == 202
        with run_server(env, tmp_path, command="worker") as worker:

            async def metrics() -> str:
                try:
                    async with httpx.AsyncClient() as http:
                        return (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.TransportError:
                    assert worker.process.poll() is None, worker.log()
                    return ""

            stored = 'eventeye_events_processed_total{module="web",outcome="stored"} 3.0'
            await eventually(metrics, lambda text: stored in text, timeout=30)


def test_a_taken_metrics_port_stops_the_worker_with_one_line(database_url: str, tmp_path: Path) -> None:
    with run_server(server_env(database_url, tmp_path / "data"), tmp_path, command="api") as api:
        taken = api.url.rsplit(":", 1)[1]
        env = server_env(database_url, tmp_path / "data", EVENTEYE_WORKER_METRICS_PORT=taken)
        with run_server(env, tmp_path, command="worker") as worker:
            assert worker.process.wait(30) == 1
            assert f"error: cannot serve metrics on 127.0.0.1:{taken}" in worker.log()
