"""Applications and their API keys: create (shown once, stored hashed), use, scopes, revoke, last use, CLI."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.runtime import Runtime
from eventeye.core.storage.tables import apps
from tests.core.conftest import RunApp
from tests.fixtures.cli import run_cli, run_cli_async

MakeKey = Callable[..., Awaitable[str]]


async def app_row(engine: AsyncEngine, name: str) -> dict[str, object]:
    async with engine.connect() as conn:
        return dict((await conn.execute(select(apps).where(apps.c.name == name))).mappings().one())


def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"EVENTEYE_DATABASE_URL": database_url, "EVENTEYE_DATA_DIR": str(tmp_path / "data")}


class TestCreateApp:
    async def test_key_is_shown_once_and_only_its_hash_is_stored(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], engine: AsyncEngine
    ) -> None:
        created = await client.post(
            "/v1/apps", json={"name": "shop", "scopes": ["ingest", "read"]}, headers=admin_headers
        )
        assert created.status_code == 201, created.text
        body = created.json()
        key = body["key"]
        assert key.startswith("ee_")
        assert len(base64.urlsafe_b64decode(key[3:] + "==")) >= 32
        assert (body["name"], body["scopes"], body["revoked_at"]) == ("shop", ["ingest", "read"], None)
        row = await app_row(engine, "shop")
        assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
        assert all(key not in str(value) for value in row.values())
        listed = await client.get("/v1/apps", headers=admin_headers)
        assert key not in listed.text
        assert [(a["name"], a["key_prefix"]) for a in listed.json()] == [("shop", key[:9])]

    async def test_every_key_is_different(self, make_app_key: MakeKey) -> None:
        assert await make_app_key("ingest") != await make_app_key("ingest")

    async def test_default_scope_is_ingest(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        created = await client.post("/v1/apps", json={"name": "shop"}, headers=admin_headers)
        assert created.json()["scopes"] == ["ingest"]

    @pytest.mark.parametrize("scopes", [["ingest", "root"], []])
    async def test_bad_scopes_are_rejected_naming_the_field(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], scopes: list[str]
    ) -> None:
        response = await client.post("/v1/apps", json={"name": "shop", "scopes": scopes}, headers=admin_headers)
        assert response.status_code == 422
        assert [d["field"] for d in response.json()["error"]["details"]] == ["scopes"]

    async def test_duplicate_name_is_a_conflict(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        assert (await client.post("/v1/apps", json={"name": "shop"}, headers=admin_headers)).status_code == 201
        again = await client.post("/v1/apps", json={"name": "shop"}, headers=admin_headers)
        assert again.status_code == 409
        assert again.json()["error"]["details"] == [{"field": "name", "reason": "taken"}]

    async def test_needs_an_admin(self, client: httpx.AsyncClient, make_app_key: MakeKey) -> None:
        assert (await client.post("/v1/apps", json={"name": "x"})).status_code == 401
        key = await make_app_key("ingest", "read")
        assert (await client.post("/v1/apps", json={"name": "x"}, headers={"X-API-Key": key})).status_code == 403


class TestUseKey:
    @pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
    async def test_accepted_in_either_header(
        self, client: httpx.AsyncClient, make_app_key: MakeKey, header: str
    ) -> None:
        key = await make_app_key("admin")
        value = f"Bearer {key}" if header == "Authorization" else key
        response = await client.get("/v1/apps", headers={header: value})
        assert response.status_code == 200, response.text

    async def test_missing_scope_is_forbidden(self, client: httpx.AsyncClient, make_app_key: MakeKey) -> None:
        key = await make_app_key("ingest", "read")
        response = await client.get("/v1/apps", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 403
        error = response.json()["error"]
        assert (error["code"], error["message"]) == ("forbidden", "the 'admin' scope is required")

    @pytest.mark.parametrize("key", ["ee_" + "A" * 43, "ee_", "ee_" + "x" * 5000])
    async def test_unknown_key_is_unauthorized(self, client: httpx.AsyncClient, key: str) -> None:
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
            response = await client.get("/v1/apps", headers=headers)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"


class TestRevoke:
    async def test_revoked_key_stops_working_at_once(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], make_app_key: MakeKey, engine: AsyncEngine
    ) -> None:
        key = await make_app_key("admin", name="shop")
        assert (await client.get("/v1/apps", headers={"X-API-Key": key})).status_code == 200
        revoked = await client.delete("/v1/apps/shop", headers=admin_headers)
        assert revoked.status_code == 204
        response = await client.get("/v1/apps", headers={"X-API-Key": key})
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Invalid or revoked API key"
        assert (await app_row(engine, "shop"))["revoked_at"] is not None
        listed = await client.get("/v1/apps", headers=admin_headers)
        assert listed.json()[0]["revoked_at"] is not None

    async def test_unknown_app_is_not_found(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        response = await client.delete("/v1/apps/nothing", headers=admin_headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    async def test_revoking_twice_is_harmless(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], make_app_key: MakeKey
    ) -> None:
        await make_app_key("ingest", name="shop")
        assert (await client.delete("/v1/apps/shop", headers=admin_headers)).status_code == 204
        assert (await client.delete("/v1/apps/shop", headers=admin_headers)).status_code == 204

    async def test_revoke_command_stops_the_key(self, run_app: RunApp, database_url: str, tmp_path: Path) -> None:
        # Other processes learn of a revocation when their key cache expires (EVENTEYE_API_KEY_CACHE_TTL).
        async with run_app(api_key_cache_ttl=timedelta(0)) as running:
            await running.client.post("/users", json={"username": "root", "password": "long enough password"})
            created = await run_cli_async(
                "apps", "create", "shop", "--scope", "admin", env=cli_env(database_url, tmp_path), cwd=tmp_path
            )
            assert created.returncode == 0, created.stderr
            key = created.stdout.strip()
            assert (await running.client.get("/v1/apps", headers={"X-API-Key": key})).status_code == 200
            revoked = await run_cli_async("apps", "revoke", "shop", env=cli_env(database_url, tmp_path), cwd=tmp_path)
            assert (revoked.returncode, revoked.stdout.strip()) == (0, "revoked shop")
            assert (await running.client.get("/v1/apps", headers={"X-API-Key": key})).status_code == 401

    def test_revoke_command_on_unknown_app_fails_with_one_line(self, database_url: str, tmp_path: Path) -> None:
        result = run_cli("apps", "revoke", "nothing", env=cli_env(database_url, tmp_path), cwd=tmp_path)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == ["error: no application named 'nothing'"]


class TestLastUsed:
    async def test_use_is_recorded(
        self, client: httpx.AsyncClient, app: FastAPI, make_app_key: MakeKey, engine: AsyncEngine
    ) -> None:
        key = await make_app_key("admin", name="shop")
        assert (await app_row(engine, "shop"))["last_used_at"] is None
        before = datetime.now(UTC)
        assert (await client.get("/v1/apps", headers={"X-API-Key": key})).status_code == 200
        runtime: Runtime = app.state.runtime
        await runtime.api_keys.drain()
        used = (await app_row(engine, "shop"))["last_used_at"]
        assert isinstance(used, datetime)
        assert before - timedelta(seconds=1) <= used <= datetime.now(UTC)

    async def test_failed_use_is_not_recorded(
        self, client: httpx.AsyncClient, app: FastAPI, make_app_key: MakeKey, engine: AsyncEngine
    ) -> None:
        key = await make_app_key("ingest", name="shop")
        await client.get("/v1/apps", headers={"X-API-Key": key[:-1] + ("A" if key[-1] != "A" else "B")})
        runtime: Runtime = app.state.runtime
        await runtime.api_keys.drain()
        assert (await app_row(engine, "shop"))["last_used_at"] is None


class TestAppsCommands:
    async def test_created_key_works_and_list_shows_it(
        self, client: httpx.AsyncClient, app: FastAPI, database_url: str, engine: AsyncEngine, tmp_path: Path
    ) -> None:
        await client.post("/users", json={"username": "root", "password": "long enough password"})
        env = cli_env(database_url, tmp_path)
        created = await run_cli_async(
            "apps", "create", "shop", "--scope", "admin", "--scope", "read", env=env, cwd=tmp_path
        )
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        assert key.startswith("ee_")
        assert (await client.get("/v1/apps", headers={"Authorization": f"Bearer {key}"})).status_code == 200
        runtime: Runtime = app.state.runtime
        await runtime.api_keys.drain()
        listed = await run_cli_async("apps", "list", env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        name, prefix, scopes, state, used = listed.stdout.strip().split("\t")
        assert (name, prefix, scopes, state) == ("shop", key[:9] + "…", "admin,read", "active")
        assert used.startswith("last used 20")
        assert key not in listed.stdout

    def test_unknown_scope_fails_with_one_line(self, database_url: str, tmp_path: Path) -> None:
        result = run_cli("apps", "create", "shop", "--scope", "root", env=cli_env(database_url, tmp_path), cwd=tmp_path)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("error: unknown scope (scopes: unknown scope(s) root")
