"""A real eventeye server per backend, shared by the client tests (each test uses its own sessions)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.databases import fresh_postgres_database, migrate, sqlite_url
from tests.fixtures.server import ServerProcess, run_server, server_env

START = datetime(2021, 1, 1, 9, 15)
ADMIN = {"username": "admin", "password": "correct horse battery staple"}


@dataclass
class Eventeye:
    """A running eventeye with an ``ingest`` key and a ``read`` key."""

    server: ServerProcess
    ingest_key: str
    read_key: str

    @property
    def url(self) -> str:
        return self.server.url

    def session_events(self, session_id: str) -> list[dict[str, Any]]:
        """Every stored event of a session, in order, following the cursor."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 1000}
        for _ in range(100):
            page = httpx.get(
                f"{self.url}/v1/sessions/{session_id}/events", params=params, headers={"X-API-Key": self.read_key}
            )
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            if not page.json()["next_cursor"]:
                return items
            params["cursor"] = page.json()["next_cursor"]
        raise AssertionError("too many pages")

    def wait_stored(self, session_id: str, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        """The session's events once ``count`` are stored (or whatever is there after ``timeout``)."""
        deadline = time.monotonic() + timeout
        items = self.session_events(session_id)
        while len(items) < count and time.monotonic() < deadline:
            time.sleep(0.05)
            items = self.session_events(session_id)
        return items


def _keys(url: str) -> tuple[str, str]:
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/users", json=ADMIN).status_code == 201
        token = http.post("/login", data=ADMIN).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        keys = []
        for name, scopes in (("client-tests", ["ingest"]), ("client-tests-reader", ["read"])):
            created = http.post("/v1/apps", json={"name": name, "scopes": scopes}, headers=auth)
            assert created.status_code == 201, created.text
            keys.append(str(created.json()["key"]))
    return keys[0], keys[1]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def eventeye(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eventeye]:
    """``eventeye serve`` on its own database (SQLite file or fresh PostgreSQL database)."""
    directory = tmp_path_factory.mktemp(f"client-{request.param}")
    with (
        _database(request.param, directory) as url,
        run_server(server_env(url, directory / "data"), directory) as server,
    ):
        ingest, read = _keys(server.url)
        yield Eventeye(server=server, ingest_key=ingest, read_key=read)


@contextmanager
def _database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield sqlite_url(directory)  # ``serve`` migrates SQLite itself
        return
    with fresh_postgres_database() as url:
        migrate(url)
        yield url


def new_session() -> str:
    return str(uuid.uuid4())


def pageview(session_id: str, index: int) -> dict[str, Any]:
    """A valid ``page interaction``/``pageview`` event; ``index`` orders it and goes into the path."""
    return {
        "session_id": session_id,
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "www.example.com", "path": f"/page/{index}"},
        "timestamp": f"{START + timedelta(milliseconds=index):%Y-%m-%d %H:%M:%S.%f}",
    }
