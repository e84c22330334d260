"""Shared fixtures: every database test runs on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.config import Settings
from eventeye.core.storage.engine import create_engine
from tests.fixtures.databases import fresh_postgres_database, migrate, sqlite_url, truncate_all
from tests.fixtures.kafka import kafka_bootstrap_servers, private_kafka_broker  # noqa: F401 (fixtures)
from tests.lifespan import running

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole session, one per backend."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path_factory.mktemp("sqlite"))
        migrate(url)
        yield url
        return
    with fresh_postgres_database() as url:
        migrate(url)
        yield url


@pytest.fixture
def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on an emptied database."""
    engine = create_engine(database_url)
    await truncate_all(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for tests: explicit values only, never the caller's environment."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "secret_key": "test-secret-key-" + "x" * 32,
            "plans_provider_url": None,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """The application with its lifespan running (API + worker roles)."""
    application = create_app(settings, engine=engine)
    async with running(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    """Bearer headers of the first (admin) user."""
    created = await client.post("/users", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert created.status_code == 201, created.text
    return await login_headers(client, ADMIN_USERNAME, ADMIN_PASSWORD)


async def login_headers(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    response = await client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def make_app_key(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> Callable[..., Awaitable[str]]:
    """Create an application with the given scopes and return its API key."""
    counter = iter(range(1_000_000))

    async def make(*scopes: str, name: str | None = None) -> str:
        body = {"name": name or f"app-{next(counter)}", "scopes": list(scopes) or ["ingest"]}
        response = await client.post("/v1/apps", json=body, headers=admin_headers)
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    return make
