"""``/v1/alerts`` history and access, stream tokens, and ``/v1/webhooks``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.core.conftest import RunApp
from tests.fixtures.waiting import eventually

EVERY_PAGEVIEW = {
    "name": "web.pageview",
    "kind": "match",
    "module": "web",
    "types": ["page interaction/pageview"],
    "key": ["session_id"],
}
CHECKOUT = {**EVERY_PAGEVIEW, "name": "web.checkout", "when": [{"field": "data.path", "op": "equals", "value": "/pay"}]}


def pageview(session: str, path: str = "/") -> dict[str, Any]:
    return {
        "session_id": session,
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "www.example.com", "path": path},
        "timestamp": "2021-01-01 09:15:27.243860",
    }


@dataclass
class Api:
    client: httpx.AsyncClient
    admin: dict[str, str]
    reader: dict[str, str]
    ingester: dict[str, str]

    async def alerts(self, **params: Any) -> dict[str, Any]:
        response = await self.client.get("/v1/alerts", params=params, headers=self.reader)
        assert response.status_code == 200, response.text
        return dict(response.json())


async def _key(client: httpx.AsyncClient, admin: dict[str, str], name: str, *scopes: str) -> dict[str, str]:
    response = await client.post("/v1/apps", json={"name": name, "scopes": list(scopes)}, headers=admin)
    return {"Authorization": f"Bearer {response.json()['key']}"}


@pytest.fixture
async def api(run_app: RunApp) -> AsyncIterator[Api]:
    async with run_app(rules=[EVERY_PAGEVIEW, CHECKOUT]) as running:
        client = running.client
        await client.post("/users", json={"username": "admin", "password": "correct horse battery"})
        login = await client.post("/login", data={"username": "admin", "password": "correct horse battery"})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        yield Api(
            client,
            admin,
            await _key(client, admin, "reader", "read"),
            await _key(client, admin, "shop", "ingest"),
        )


async def raise_alerts(api: Api, events: list[dict[str, Any]], expected: int) -> list[dict[str, Any]]:
    accepted = await api.client.post("/v1/events", json=events, headers=api.ingester)
    assert accepted.status_code == 202, accepted.text
    page = await eventually(lambda: api.alerts(limit=1000), lambda body: len(body["items"]) >= expected)
    return list(page["items"])


class TestHistory:
    async def test_filters_by_rule_module_and_key(self, api: Api) -> None:
        await raise_alerts(api, [pageview("s1"), pageview("s2", "/pay")], expected=3)
        assert [item["key"] for item in (await api.alerts(rule="web.checkout"))["items"]] == ["s2"]
        assert len((await api.alerts(module="web"))["items"]) == 3
        assert (await api.alerts(module="vehicles"))["items"] == []
        assert {item["rule"] for item in (await api.alerts(key="s2"))["items"]} == {"web.pageview", "web.checkout"}

    async def test_pages_newest_first_with_a_cursor(self, api: Api) -> None:
        everything = await raise_alerts(api, [pageview(f"s{i}") for i in range(5)], expected=5)
        seen, cursor = [], None
        for _ in range(5):
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await api.alerts(**params)
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [item["id"] for item in everything]
        times = [item["created_at"] for item in everything]
        assert times == sorted(times, reverse=True)

    async def test_time_range(self, api: Api) -> None:
        [only] = await raise_alerts(api, [pageview("s1")], expected=1)
        assert (await api.alerts(start=only["created_at"]))["items"] != []
        assert (await api.alerts(end=only["created_at"]))["items"] == []

    async def test_one_alert_and_unknown_ones(self, api: Api) -> None:
        [only] = await raise_alerts(api, [pageview("s1")], expected=1)
        found = await api.client.get(f"/v1/alerts/{only['id']}", headers=api.reader)
        assert found.json() == only
        missing = await api.client.get("/v1/alerts/00000000-0000-0000-0000-000000000000", headers=api.reader)
        assert missing.status_code == 404

    async def test_a_bad_cursor_is_a_422_naming_it(self, api: Api) -> None:
        response = await api.client.get("/v1/alerts", params={"cursor": "nonsense"}, headers=api.reader)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "cursor"

    async def test_needs_read_access(self, api: Api) -> None:
        assert (await api.client.get("/v1/alerts")).status_code == 401
        assert (await api.client.get("/v1/alerts", headers=api.ingester)).status_code == 403


class TestStreamAccess:
    async def test_refuses_without_credentials_or_read_scope(self, api: Api) -> None:
        assert (await api.client.get("/v1/alerts/stream")).status_code == 401
        assert (await api.client.get("/v1/alerts/stream", headers=api.ingester)).status_code == 403
        assert (await api.client.get("/v1/alerts/stream", params={"token": "nonsense"})).status_code == 401

    async def test_an_access_token_is_not_a_stream_token_nor_the_reverse(self, api: Api) -> None:
        bearer = api.admin["Authorization"].removeprefix("Bearer ")
        assert (await api.client.get("/v1/alerts/stream", params={"token": bearer})).status_code == 401
        issued = await api.client.post("/v1/alerts/stream-token", headers=api.reader)
        assert issued.status_code == 200
        assert issued.json()["expires_in"] == 60
        stream_token = issued.json()["token"]
        assert (
            await api.client.get("/v1/alerts", headers={"Authorization": f"Bearer {stream_token}"})
        ).status_code == 401

    async def test_only_readers_get_stream_tokens(self, api: Api) -> None:
        assert (await api.client.post("/v1/alerts/stream-token", headers=api.ingester)).status_code == 403
        assert (await api.client.post("/v1/alerts/stream-token")).status_code == 401

    async def test_a_bad_since_is_a_422_naming_it(self, api: Api) -> None:
        response = await api.client.get("/v1/alerts/stream", params={"since": "yesterday"}, headers=api.reader)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "since"


class TestWebhooks:
    async def test_the_secret_is_shown_once(self, api: Api) -> None:
        body = {"name": "ops", "url": "https://hooks.example.com/eventeye", "max_attempts": 3}
        created = await api.client.post("/v1/webhooks", json=body, headers=api.admin)
        assert created.status_code == 201, created.text
        assert len(created.json()["secret"]) >= 32
        listed = (await api.client.get("/v1/webhooks", headers=api.admin)).json()
        assert [item["name"] for item in listed] == ["ops"]
        assert "secret" not in listed[0]
        assert "secret" not in (await api.client.get("/v1/webhooks/ops", headers=api.admin)).json()
        assert (await api.client.post("/v1/webhooks", json=body, headers=api.admin)).status_code == 409

    async def test_bad_urls_are_a_422(self, api: Api) -> None:
        for url in ("ftp://example.com/x", "not a url"):
            response = await api.client.post("/v1/webhooks", json={"name": "x", "url": url}, headers=api.admin)
            assert response.status_code == 422
            assert response.json()["error"]["details"][0]["field"] == "url"

    async def test_only_admins(self, api: Api) -> None:
        assert (await api.client.get("/v1/webhooks", headers=api.reader)).status_code == 403

    async def test_delete(self, api: Api) -> None:
        body = {"name": "ops", "url": "https://hooks.example.com/eventeye"}
        await api.client.post("/v1/webhooks", json=body, headers=api.admin)
        assert (await api.client.delete("/v1/webhooks/ops", headers=api.admin)).status_code == 204
        assert (await api.client.get("/v1/webhooks/ops/deliveries", headers=api.admin)).status_code == 404
