"""Real server processes: they start with no configuration beyond their database, and speak HTTP as promised."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.fixtures.server import ServerProcess, run_server, server_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``eventeye serve`` with JSON logs and a small body limit, shared by this file's tests."""
    tmp = tmp_path_factory.mktemp("server")
    env = server_env(database_url, tmp / "data", EVENTEYE_LOG_FORMAT="json", EVENTEYE_MAX_REQUEST_BYTES="2048")
    with run_server(env, tmp) as process:
        yield process


class TestServe:
    def test_answers_health_readiness_and_docs(self, server: ServerProcess) -> None:
        assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        docs = httpx.get(f"{server.url}/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        assert "/login" in httpx.get(f"{server.url}/openapi.json").json()["paths"]

    def test_chunked_body_over_the_limit_is_413(self, server: ServerProcess) -> None:
        def chunks() -> Iterator[bytes]:
            for _ in range(16):
                yield b"x" * 512

        response = httpx.post(f"{server.url}/users", content=chunks(), headers={"Content-Type": "application/json"})
        assert response.request.headers.get("Transfer-Encoding") == "chunked"
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

    def test_declared_body_over_the_limit_is_413(self, server: ServerProcess) -> None:
        response = httpx.post(f"{server.url}/users", content=b"x" * 4096, headers={"Content-Type": "application/json"})
        assert response.status_code == 413

    def test_every_line_it_logs_is_json(self, server: ServerProcess) -> None:
        response = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "served-1"})
        assert response.headers["X-Request-ID"] == "served-1"
        lines = [orjson.loads(line) for line in server.log().splitlines() if line.strip()]
        assert any("eventeye started" in str(entry["message"]) for entry in lines)
        assert all({"ts", "level", "logger", "message", "request_id"} <= set(entry) for entry in lines)


class TestProcesses:
    def test_api_process_serves_without_background_work(self, database_url: str, tmp_path: Path) -> None:
        with run_server(server_env(database_url, tmp_path / "data"), tmp_path, command="api") as api:
            assert httpx.get(f"{api.url}/readyz").status_code == 200
            log = api.log()
        assert "eventeye started (api)" in log

    def test_worker_process_starts_and_stops_on_sigterm(self, database_url: str, tmp_path: Path) -> None:
        with run_server(server_env(database_url, tmp_path / "data"), tmp_path, command="worker") as worker:
            deadline = time.monotonic() + 30
            while "eventeye started (worker)" not in worker.log() and time.monotonic() < deadline:
                assert worker.process.poll() is None, worker.log()
                time.sleep(0.1)
            assert "eventeye started (worker)" in worker.log()
        assert worker.process.returncode == 0, worker.log()
