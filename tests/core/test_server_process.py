"""The real server process starts with no configuration beyond its database and serves its docs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import run_server, server_env

pytestmark = pytest.mark.slow


def test_serve_answers_health_and_docs(database_url: str, tmp_path: Path) -> None:
    with run_server(server_env(database_url, tmp_path / "data"), tmp_path) as server:
        assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        docs = httpx.get(f"{server.url}/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
