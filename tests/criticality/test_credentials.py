"""Every 400/401/403/422 of ``/secapp/update``, in the ``/v1`` error shape, naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.config import Settings
from tests.criticality.conftest import TOKEN, poll, post_change, secapp_headers
from tests.lifespan import running

BODY = {"current_status": 5, "Change_at": "2017-07-21T17:32:28Z"}
METHODS = ["GET", "POST"]


async def call(client: httpx.AsyncClient, method: str, headers: dict[str, str], body: Any = BODY) -> httpx.Response:
    if method == "GET":
        return await client.get("/secapp/update", headers=headers)
    return await client.post("/secapp/update", json=body, headers=headers)


def assert_error(response: httpx.Response, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert field in [detail["field"] for detail in error["details"]], error


async def assert_nothing_stored(client: httpx.AsyncClient) -> None:
    assert await poll(client, "auditor") == {}


class TestToken:
    @pytest.mark.parametrize("method", METHODS)
    async def test_missing_token_is_401_with_a_challenge(self, client: httpx.AsyncClient, method: str) -> None:
        response = await call(client, method, {"App-name": "app"})
        assert_error(response, 401, "unauthorized", "token")
        assert response.headers["WWW-Authenticate"].startswith("Token")

    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize("token", ["", "wrong", TOKEN + "x", "ee_not-a-real-key"])
    async def test_wrong_token_is_401(self, client: httpx.AsyncClient, method: str, token: str) -> None:
        response = await call(client, method, secapp_headers("app", token))
        assert_error(response, 401, "unauthorized", "token")
        assert "WWW-Authenticate" in response.headers
        await assert_nothing_stored(client)

    async def test_token_is_checked_before_the_body(self, client: httpx.AsyncClient) -> None:
        response = await call(client, "POST", secapp_headers("app", "wrong"), {"current_status": "high"})
        assert_error(response, 401, "unauthorized", "token")

    async def test_token_is_checked_before_app_name(self, client: httpx.AsyncClient) -> None:
        assert_error(await call(client, "GET", {"token": "wrong"}), 401, "unauthorized", "token")


class TestAppKeys:
    async def test_a_criticality_key_works_for_its_own_app_name(
        self, client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]]
    ) -> None:
        key = await make_app_key("criticality", name="radar")
        response = await call(client, "POST", secapp_headers("radar", key))
        assert response.status_code == 200, response.text
        state = await call(client, "GET", secapp_headers("radar", key))
        assert state.json()["status_change_id"] == response.json()["processed_id"]

    @pytest.mark.parametrize("method", METHODS)
    async def test_another_app_name_is_403(
        self, client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]], method: str
    ) -> None:
        key = await make_app_key("criticality", name="radar")
        assert_error(await call(client, method, secapp_headers("sonar", key)), 403, "forbidden", "App-name")
        await assert_nothing_stored(client)

    @pytest.mark.parametrize("method", METHODS)
    async def test_a_key_without_the_scope_is_403(
        self, client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]], method: str
    ) -> None:
        key = await make_app_key("ingest", "read", name="shop")
        assert_error(await call(client, method, secapp_headers("shop", key)), 403, "forbidden", "token")

    async def test_a_revoked_key_is_401(
        self,
        client: httpx.AsyncClient,
        make_app_key: Callable[..., Awaitable[str]],
        admin_headers: dict[str, str],
    ) -> None:
        key = await make_app_key("criticality", name="radar")
        assert (await call(client, "GET", secapp_headers("radar", key))).status_code == 200
        assert (await client.delete("/v1/apps/radar", headers=admin_headers)).status_code == 204
        assert_error(await call(client, "GET", secapp_headers("radar", key)), 401, "unauthorized", "token")


@pytest.fixture
async def tokenless_client(
    make_settings: Callable[..., Settings], engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    """A server without a shared token configured."""
    application = create_app(make_settings(criticality_token=None), engine=engine)
    async with running(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_without_a_configured_shared_token_only_keys_work(tokenless_client: httpx.AsyncClient) -> None:
    assert_error(await call(tokenless_client, "POST", secapp_headers("app")), 401, "unauthorized", "token")


class TestAppName:
    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize("headers", [{"token": TOKEN}, {"token": TOKEN, "App-name": ""}, secapp_headers("  ")])
    async def test_missing_or_empty_app_name_is_400(
        self, client: httpx.AsyncClient, method: str, headers: dict[str, str]
    ) -> None:
        assert_error(await call(client, method, headers), 400, "bad_request", "App-name")
        await assert_nothing_stored(client)

    async def test_an_overlong_app_name_is_400(self, client: httpx.AsyncClient) -> None:
        assert_error(await call(client, "GET", secapp_headers("a" * 151)), 400, "bad_request", "App-name")

    async def test_header_names_are_case_insensitive(self, client: httpx.AsyncClient) -> None:
        response = await call(client, "POST", {"app-name": "producer", "TOKEN": TOKEN})
        assert response.status_code == 200, response.text


class TestBody:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"current_status": "5", "Change_at": "2017-07-21T17:32:28Z"}, "current_status"),
            ({"current_status": 5.5, "Change_at": "2017-07-21T17:32:28Z"}, "current_status"),
            ({"current_status": True, "Change_at": "2017-07-21T17:32:28Z"}, "current_status"),
            ({"current_status": None, "Change_at": "2017-07-21T17:32:28Z"}, "current_status"),
            ({"current_status": 0, "Change_at": "2017-07-21T17:32:28Z"}, "current_status"),
            ({"current_status": 6, "Change_at": "2017-07-21T17:32:28Z"}, "current_status"),
            ({"Change_at": "2017-07-21T17:32:28Z"}, "current_status"),
            ({"current_status": 5}, "Change_at"),
            ({"current_status": 5, "change_at": "2017-07-21T17:32:28Z"}, "Change_at"),
            ({"current_status": 5, "Change_at": "yesterday"}, "Change_at"),
            ({"current_status": 5, "Change_at": "2017-07-21T17:32:28"}, "Change_at"),
            ({"current_status": 5, "Change_at": 1500658348}, "Change_at"),
            ({"current_status": 5, "Change_at": "2017-13-21T17:32:28Z"}, "Change_at"),
            ({"current_status": 5, "Change_at": "9999-12-31T23:59:59-01:00"}, "Change_at"),
            ([1, 2], "body"),
            ("text", "body"),
        ],
    )
    async def test_an_invalid_body_is_422_naming_the_field(
        self, client: httpx.AsyncClient, body: Any, field: str
    ) -> None:
        assert_error(await call(client, "POST", secapp_headers("producer"), body), 422, "invalid_input", field)
        await assert_nothing_stored(client)

    async def test_malformed_json_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/secapp/update", content=b'{"current_status": 5,', headers=secapp_headers("producer")
        )
        assert_error(response, 422, "invalid_input", "body")

    async def test_the_status_range_is_configurable(
        self, make_settings: Callable[..., Settings], engine: AsyncEngine
    ) -> None:
        settings = make_settings(criticality_token=TOKEN, criticality_status_min=0, criticality_status_max=10)
        application = create_app(settings, engine=engine)
        async with running(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                await post_change(http, "producer", 10, "2017-07-21T17:32:28Z")
                response = await call(http, "POST", secapp_headers("producer"), {**BODY, "current_status": 11})
                assert_error(response, 422, "invalid_input", "current_status")
                assert "between 0 and 10" in response.text
