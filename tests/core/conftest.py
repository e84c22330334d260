"""Fixtures for the core's tests: apps built with chosen settings or modules, and blank databases."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.config import Settings
from eventeye.core.runtime import Runtime
from eventeye.core.storage.driver import DriverPool
from eventeye.modules import LoadedModule
from tests.fixtures.databases import fresh_postgres_database, sqlite_url
from tests.lifespan import running


@dataclass
class Running:
    """An application with its lifespan running, and a client speaking to it."""

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


RunApp = Callable[..., AbstractAsyncContextManager[Running]]


@asynccontextmanager
async def running_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    modules: list[LoadedModule] | None = None,
    client_address: tuple[str, int] = ("127.0.0.1", 40000),
) -> AsyncIterator[Running]:
    """Run ``create_app`` for ``settings`` in process; an error escaping the app fails the request."""
    application = create_app(settings, engine=engine, modules=modules)
    try:
        async with running(application):
            transport = httpx.ASGITransport(app=application, client=client_address)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield Running(app=application, client=http)
    finally:
        # A SQLite connection a cancelled task left inside its transaction holds the file's
        # write lock until it is collected: collect now, before a next app in the same test.
        gc.collect()


@pytest.fixture
def run_app(make_settings: Callable[..., Settings], engine: AsyncEngine) -> RunApp:
    """``async with run_app(modules=..., **setting_overrides) as running``, on the test's database."""

    def run(*, modules: list[LoadedModule] | None = None, **overrides: Any) -> AbstractAsyncContextManager[Running]:
        return running_app(make_settings(**overrides), engine=engine, modules=modules)

    return run


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new database that has never been migrated: a new SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield blank_sqlite_url(tmp_path)
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def blank_postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database that has never been migrated."""
    with fresh_postgres_database() as url:
        yield url


def blank_sqlite_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet, in a directory that does not exist yet."""
    return sqlite_url(tmp_path / "blank")


@pytest.fixture
async def driver(database_url: str, backend: str, engine: AsyncEngine) -> AsyncIterator[DriverPool]:
    """PostgreSQL's driver pool on the test's (emptied) database; SQLite skips: there is none."""
    if backend != "postgresql":
        pytest.skip("the driver pool is PostgreSQL's only")
    pool = DriverPool(database_url, size=2)
    yield pool
    await pool.close()
