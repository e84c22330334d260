"""``POST /users``: the open first user, admin-only afterwards, open signup, validation, password storage."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.storage.tables import users
from tests.conftest import login_headers
from tests.core.conftest import RunApp
from tests.fixtures.cli import run_cli_async

PASSWORD = "a perfectly long password"


async def stored_hash(engine: AsyncEngine, username: str) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(select(users.c.password_hash).where(users.c.username == username))).scalar_one())


class TestBootstrap:
    async def test_first_user_is_created_openly_as_an_admin(self, client: httpx.AsyncClient) -> None:
        created = await client.post("/users", json={"username": "root", "password": PASSWORD})
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["username"], body["is_admin"], body["email"]) == ("root", True, None)
        headers = await login_headers(client, "root", PASSWORD)
        assert (await client.get("/v1/apps", headers=headers)).status_code == 200


class TestCreateUserAfterBootstrap:
    async def test_anonymous_caller_is_unauthorized(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post("/users", json={"username": "eve", "password": PASSWORD})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"

    async def test_non_admin_user_is_forbidden(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        created = await client.post("/users", json={"username": "bob", "password": PASSWORD}, headers=admin_headers)
        assert created.status_code == 201, created.text
        assert created.json()["is_admin"] is False
        bob = await login_headers(client, "bob", PASSWORD)
        response = await client.post("/users", json={"username": "eve", "password": PASSWORD}, headers=bob)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"

    async def test_admin_creates_users_and_other_admins(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        body = {"username": "ops", "password": PASSWORD, "email": "ops@example.com", "is_admin": True}
        response = await client.post("/users", json=body, headers=admin_headers)
        assert response.status_code == 201, response.text
        assert (response.json()["is_admin"], response.json()["email"]) == (True, "ops@example.com")

    async def test_invalid_token_is_rejected_not_ignored(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        headers = {"Authorization": "Bearer not-a-token"}
        response = await client.post("/users", json={"username": "eve", "password": PASSWORD}, headers=headers)
        assert response.status_code == 401


class TestOpenSignup:
    async def test_anyone_may_sign_up_but_not_as_admin(self, run_app: RunApp, engine: AsyncEngine) -> None:
        async with run_app(open_signup=True) as running:
            first = await running.client.post("/users", json={"username": "root", "password": PASSWORD})
            assert first.json()["is_admin"] is True
            body = {"username": "guest", "password": PASSWORD, "is_admin": True}
            second = await running.client.post("/users", json=body)
            assert second.status_code == 201, second.text
            assert second.json()["is_admin"] is False

    async def test_closed_by_default(self, run_app: RunApp) -> None:
        async with run_app(open_signup=False) as running:
            await running.client.post("/users", json={"username": "root", "password": PASSWORD})
            second = await running.client.post("/users", json={"username": "guest", "password": PASSWORD})
            assert second.status_code == 401


class TestValidation:
    async def test_duplicate_username_is_a_conflict(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post("/users", json={"username": "admin", "password": PASSWORD}, headers=admin_headers)
        assert response.status_code == 409
        assert response.json()["error"]["details"] == [{"field": "username", "reason": "taken"}]

    async def test_short_password_is_rejected_naming_the_field(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/users", json={"username": "root", "password": "short"})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["details"] == [{"field": "password", "reason": "must be at least 8 characters"}]

    async def test_minimum_length_follows_the_setting(self, run_app: RunApp) -> None:
        async with run_app(password_min_length=30) as running:
            response = await running.client.post("/users", json={"username": "root", "password": PASSWORD})
            assert response.status_code == 422
            assert "30" in response.json()["error"]["details"][0]["reason"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"password": PASSWORD}, "username"),
            ({"username": "", "password": PASSWORD}, "username"),
            ({"username": "bad/name", "password": PASSWORD}, "username"),
            ({"username": "root"}, "password"),
            ({"username": "root", "password": PASSWORD, "email": "not-an-address"}, "email"),
            ({"username": "root", "password": PASSWORD, "role": "admin"}, "role"),
        ],
    )
    async def test_bad_body_is_rejected_naming_the_field(
        self, client: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, str], field: str
    ) -> None:
        response = await client.post("/users", json=body)
        assert response.status_code == 422
        assert [detail["field"] for detail in response.json()["error"]["details"]] == [field]
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(users))).scalar_one() == 0


class TestPasswordStorage:
    async def test_password_is_never_echoed(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/users", json={"username": "root", "password": PASSWORD})
        assert PASSWORD not in response.text
        assert "password" not in response.json()

    async def test_password_is_stored_as_an_argon2_hash(self, client: httpx.AsyncClient, engine: AsyncEngine) -> None:
        await client.post("/users", json={"username": "root", "password": PASSWORD})
        stored = await stored_hash(engine, "root")
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored
        hasher = PasswordHash((Argon2Hasher(),))
        assert hasher.verify(PASSWORD, stored)
        assert not hasher.verify(PASSWORD + "!", stored)


class TestCreateUserCommand:
    async def test_creates_an_admin_who_can_log_in(
        self, client: httpx.AsyncClient, database_url: str, engine: AsyncEngine, tmp_path: Path
    ) -> None:
        env = {"EVENTEYE_DATABASE_URL": database_url, "EVENTEYE_DATA_DIR": str(tmp_path / "data")}
        result = await run_cli_async(
            "users", "create", "carol", "--admin", "--password-stdin", env=env, cwd=tmp_path, stdin=PASSWORD
        )
        assert result.returncode == 0, result.stderr
        assert PASSWORD not in result.stdout + result.stderr
        assert (await stored_hash(engine, "carol")).startswith("$argon2id$")
        headers = await login_headers(client, "carol", PASSWORD)
        assert (await client.get("/v1/apps", headers=headers)).status_code == 200

    @pytest.mark.usefixtures("engine")  # an emptied, unlocked database: the command migrates it first
    async def test_short_password_fails_with_one_line(self, database_url: str, tmp_path: Path) -> None:
        env = {"EVENTEYE_DATABASE_URL": database_url, "EVENTEYE_DATA_DIR": str(tmp_path / "data")}
        result = await run_cli_async(
            "users", "create", "carol", "--password-stdin", env=env, cwd=tmp_path, stdin="short\n"
        )
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [
            "error: password is too short (password: must be at least 8 characters)"
        ]
