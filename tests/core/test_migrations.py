"""Migrations: up from empty on both databases, `pending()`, `eventeye migrate`, and the start-up schema check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.storage import migrations
from eventeye.core.storage.engine import create_engine
from eventeye.core.storage.tables import metadata
from eventeye.process import SchemaOutdated
from tests.core.conftest import blank_sqlite_url, running_app
from tests.fixtures.cli import run_cli, run_cli_async
from tests.fixtures.databases import load_all_tables
from tests.fixtures.server import free_port, run_server, server_env


def settings_for(url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=url, data_dir=tmp_path / "data", secret_key="k" * 48)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


def schema_differences(connection: Connection) -> list[object]:
    load_all_tables()
    return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata))


@pytest.fixture
async def blank_engine(blank_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(blank_database_url)
    yield engine
    await engine.dispose()


class TestUpgrade:
    async def test_creates_every_table_on_an_empty_database(self, blank_engine: AsyncEngine) -> None:
        assert await table_names(blank_engine) == set()
        await migrations.upgrade(blank_engine)
        assert {"users", "apps", "alembic_version"} <= await table_names(blank_engine)

    async def test_migrated_schema_matches_the_tables_in_code(self, blank_engine: AsyncEngine) -> None:
        await migrations.upgrade(blank_engine)
        async with blank_engine.connect() as conn:
            assert await conn.run_sync(schema_differences) == []

    async def test_concurrent_upgrades_both_succeed(self, blank_database_url: str) -> None:
        engines = [create_engine(blank_database_url) for _ in range(2)]
        try:
            await asyncio.gather(*(migrations.upgrade(engine) for engine in engines))
            assert await migrations.pending(engines[0]) == set()
        finally:
            for engine in engines:
                await engine.dispose()

    async def test_running_it_again_changes_nothing(self, blank_engine: AsyncEngine) -> None:
        await migrations.upgrade(blank_engine)
        before = await table_names(blank_engine)
        await migrations.upgrade(blank_engine)
        assert await table_names(blank_engine) == before
        assert await migrations.pending(blank_engine) == set()


class TestPending:
    async def test_an_unmigrated_database_misses_every_head(self, blank_engine: AsyncEngine) -> None:
        missing = await migrations.pending(blank_engine)
        assert missing
        assert missing == set(migrations.expected_heads())

    async def test_a_migrated_database_misses_nothing(self, blank_engine: AsyncEngine) -> None:
        await migrations.upgrade(blank_engine)
        assert await migrations.pending(blank_engine) == set()


class TestMigrateCommand:
    async def test_brings_a_new_database_up_to_date(self, blank_database_url: str, tmp_path: Path) -> None:
        result = await run_cli_async("migrate", env={"EVENTEYE_DATABASE_URL": blank_database_url}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout
        engine = create_engine(blank_database_url)
        try:
            assert await migrations.pending(engine) == set()
        finally:
            await engine.dispose()

    def test_unreachable_database_fails_with_one_line(self, tmp_path: Path) -> None:
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
        result = run_cli("migrate", env={"EVENTEYE_DATABASE_URL": url}, cwd=tmp_path)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: cannot reach the database")


class TestStartupSchemaCheck:
    async def test_app_on_outdated_postgresql_refuses_to_start(self, blank_postgres_url: str, tmp_path: Path) -> None:
        with pytest.raises(SchemaOutdated, match="run `eventeye migrate` first"):
            async with running_app(settings_for(blank_postgres_url, tmp_path)):
                pass

    async def test_app_on_new_sqlite_file_migrates_itself(self, tmp_path: Path) -> None:
        async with running_app(settings_for(blank_sqlite_url(tmp_path), tmp_path)) as running:
            assert (await running.client.get("/readyz")).status_code == 200
            assert await migrations.pending(running.runtime.engine) == set()

    @pytest.mark.slow
    @pytest.mark.parametrize("command", ["serve", "api", "worker"])
    def test_process_on_outdated_postgresql_exits_saying_to_migrate(
        self, blank_postgres_url: str, tmp_path: Path, command: str
    ) -> None:
        env = server_env(blank_postgres_url, tmp_path / "data", EVENTEYE_PORT=str(free_port()))
        result = run_cli(command, env=env, cwd=tmp_path, timeout=30)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "run `eventeye migrate` first" in lines[0]

    @pytest.mark.slow
    def test_server_on_new_sqlite_file_migrates_and_is_ready(self, tmp_path: Path) -> None:
        with run_server(server_env(blank_sqlite_url(tmp_path), tmp_path / "data"), tmp_path) as server:
            ready = httpx.get(f"{server.url}/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
