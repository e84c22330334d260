"""``POST /login``: the OAuth2 password flow, its failures, and rate limiting of failed logins."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import jwt
import pytest

from eventeye.config import Settings
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.core.conftest import RunApp

WRONG = {"username": ADMIN_USERNAME, "password": "not the password"}
RIGHT = {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}


async def create_admin(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 201, response.text


class TestLogin:
    async def test_right_password_gets_a_bearer_token(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], settings: Settings
    ) -> None:
        response = await client.post("/login", data=RIGHT)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 30 * 60
        assert settings.secret_key is not None
        claims = jwt.decode(
            body["access_token"],
            settings.secret_key.get_secret_value(),
            algorithms=["HS256"],
            audience="eventeye",
            issuer="eventeye",
        )
        assert claims["exp"] - claims["iat"] == 30 * 60
        me = await client.get("/v1/apps", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200

    async def test_token_lifetime_follows_the_setting(self, run_app: RunApp) -> None:
        async with run_app(access_token_ttl=timedelta(minutes=2)) as running:
            await create_admin(running.client)
            response = await running.client.post("/login", data=RIGHT)
            assert response.json()["expires_in"] == 120

    async def test_wrong_password_is_unauthorized(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post("/login", data=WRONG)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "access_token" not in response.text

    async def test_unknown_user_is_unauthorized_the_same_way(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        unknown = await client.post("/login", data={"username": "nobody", "password": ADMIN_PASSWORD})
        wrong = await client.post("/login", data=WRONG)
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json() == wrong.json()

    @pytest.mark.parametrize(("form", "field"), [({"username": "admin"}, "password"), ({"password": "x"}, "username")])
    async def test_missing_form_field_is_named(
        self, client: httpx.AsyncClient, form: dict[str, str], field: str
    ) -> None:
        response = await client.post("/login", data=form)
        assert response.status_code == 422
        assert [detail["field"] for detail in response.json()["error"]["details"]] == [field]

    async def test_json_body_is_not_a_login(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/login", json=RIGHT)
        assert response.status_code == 422


class TestLoginRateLimit:
    async def test_failures_for_one_username_block_it_with_retry_after(self, run_app: RunApp) -> None:
        async with run_app(login_max_failures=2, login_failure_window=timedelta(seconds=60)) as running:
            await create_admin(running.client)
            for _ in range(2):
                assert (await running.client.post("/login", data=WRONG)).status_code == 401
            blocked = await running.client.post("/login", data=RIGHT)
            assert blocked.status_code == 429
            assert blocked.json()["error"]["code"] == "rate_limited"
            assert int(blocked.headers["Retry-After"]) in range(1, 62)
            other = await running.client.post("/login", data={"username": "someone", "password": "x"})
            assert other.status_code == 401

    async def test_block_lifts_after_the_window(self, run_app: RunApp) -> None:
        async with run_app(login_max_failures=1, login_failure_window=timedelta(seconds=1)) as running:
            await create_admin(running.client)
            assert (await running.client.post("/login", data=WRONG)).status_code == 401
            assert (await running.client.post("/login", data=RIGHT)).status_code == 429
            await asyncio.sleep(1.1)
            assert (await running.client.post("/login", data=RIGHT)).status_code == 200

    async def test_success_clears_the_username_count(self, run_app: RunApp) -> None:
        async with run_app(login_max_failures=2) as running:
            await create_admin(running.client)
            assert (await running.client.post("/login", data=WRONG)).status_code == 401
            assert (await running.client.post("/login", data=RIGHT)).status_code == 200
            assert (await running.client.post("/login", data=WRONG)).status_code == 401
            assert (await running.client.post("/login", data=RIGHT)).status_code == 200

    async def test_failures_from_one_address_block_it_for_every_username(self, run_app: RunApp) -> None:
        async with run_app(login_max_failures=1) as running:  # per address: 4 failures
            transport = httpx.ASGITransport(app=running.app, client=("203.0.113.7", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as attacker:
                for name in ("a", "b", "c", "d"):
                    failed = await attacker.post("/login", data={"username": name, "password": "x"})
                    assert failed.status_code == 401
                blocked = await attacker.post("/login", data={"username": "e", "password": "x"})
                assert blocked.status_code == 429
                assert int(blocked.headers["Retry-After"]) >= 1
            elsewhere = await running.client.post("/login", data={"username": "e", "password": "x"})
            assert elsewhere.status_code == 401
