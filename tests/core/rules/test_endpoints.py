"""``/v1/rules``: validation with clear errors, access, overrides of configured rules, and rules taking effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.core.conftest import RunApp
from tests.fixtures.waiting import eventually

ERRORS_BURST = {
    "name": "web.error-burst",
    "kind": "rate",
    "module": "web",
    "key": ["app"],
    "when": [{"field": "category", "op": "equals", "value": "error"}],
    "count": 10,
    "window": 60,
}
PAGEVIEW = {
    "session_id": "s-1",
    "category": "page interaction",
    "name": "pageview",
    "data": {"host": "www.example.com", "path": "/checkout"},
    "timestamp": "2021-01-01 09:15:27.243860",
}


def details(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {item["field"]: item["reason"] for item in response.json()["error"]["details"]}


class TestWrite:
    async def test_create_then_read_back(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        created = await client.post("/v1/rules", json=ERRORS_BURST, headers=admin_headers)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["origin"] == "api"
        assert body["rule"]["window"] == 60.0
        listed = (await client.get("/v1/rules", headers=admin_headers)).json()
        assert {item["rule"]["name"]: item["origin"] for item in listed}["web.error-burst"] == "api"
        again = await client.post("/v1/rules", json=ERRORS_BURST, headers=admin_headers)
        assert again.status_code == 409

    async def test_invalid_rules_name_the_field(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        bad = {**ERRORS_BURST, "count": None, "when": [{"field": "name", "op": "regex", "pattern": "(("}]}
        found = details(await client.post("/v1/rules", json=bad, headers=admin_headers))
        assert "required for a 'rate' rule" in found["count"]
        assert "not a valid regular expression" in found["when.0.regex.pattern"]

    async def test_unknown_webhooks_are_refused(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        rule = {**ERRORS_BURST, "sinks": [{"kind": "log"}, {"kind": "webhook", "webhook": "nowhere"}]}
        found = details(await client.post("/v1/rules", json=rule, headers=admin_headers))
        assert "no webhook named 'nowhere'" in found["sinks.1.webhook"]

    async def test_replace_disable_enable_delete(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        body = {key: value for key, value in ERRORS_BURST.items() if key != "name"}
        put = await client.put("/v1/rules/web.error-burst", json={**body, "count": 3}, headers=admin_headers)
        assert put.status_code == 200, put.text
        assert put.json()["rule"]["count"] == 3
        disabled = await client.post("/v1/rules/web.error-burst/disable", headers=admin_headers)
        assert disabled.json()["rule"]["enabled"] is False
        enabled = await client.post("/v1/rules/web.error-burst/enable", headers=admin_headers)
        assert enabled.json()["rule"]["enabled"] is True
        assert (await client.delete("/v1/rules/web.error-burst", headers=admin_headers)).status_code == 204
        assert (await client.get("/v1/rules/web.error-burst", headers=admin_headers)).status_code == 404
        assert (await client.delete("/v1/rules/web.error-burst", headers=admin_headers)).status_code == 404

    async def test_a_bad_name_in_the_path_is_a_422(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        body = {key: value for key, value in ERRORS_BURST.items() if key != "name"}
        response = await client.put("/v1/rules/bad%20name", json=body, headers=admin_headers)
        assert "name" in details(response)


class TestAccess:
    async def test_readers_read_and_only_admins_write(
        self, client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]]
    ) -> None:
        reader = {"Authorization": f"Bearer {await make_app_key('read')}"}
        assert (await client.get("/v1/rules", headers=reader)).status_code == 200
        assert (await client.post("/v1/rules", json=ERRORS_BURST, headers=reader)).status_code == 403
        assert (await client.get("/v1/rules")).status_code == 401


class TestConfigured:
    async def test_configured_rules_are_overridden_and_restored(self, run_app: RunApp) -> None:
        async with run_app(rules=[ERRORS_BURST]) as running:
            client = running.client
            await client.post("/users", json={"username": "admin", "password": "correct horse battery"})
            token = (
                await client.post("/login", data={"username": "admin", "password": "correct horse battery"})
            ).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            listed = (await client.get("/v1/rules/web.error-burst", headers=headers)).json()
            assert (listed["origin"], listed["overridden"]) == ("config", False)
            refused = await client.delete("/v1/rules/web.error-burst", headers=headers)
            assert refused.status_code == 409
            assert "disable it" in refused.json()["error"]["message"]
            disabled = (await client.post("/v1/rules/web.error-burst/disable", headers=headers)).json()
            assert (disabled["origin"], disabled["overridden"], disabled["rule"]["enabled"]) == ("config", True, False)
            assert (await client.delete("/v1/rules/web.error-burst", headers=headers)).status_code == 204
            restored = (await client.get("/v1/rules/web.error-burst", headers=headers)).json()
            assert (restored["overridden"], restored["rule"]["enabled"]) == (False, True)


class TestEffect:
    async def test_a_rule_made_through_the_api_raises_alerts(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], make_app_key: Callable[..., Awaitable[str]]
    ) -> None:
        rule: dict[str, Any] = {
            "name": "web.checkout",
            "kind": "match",
            "module": "web",
            "types": ["page interaction/pageview"],
            "key": ["session_id"],
            "when": [{"field": "data.path", "op": "regex", "pattern": "^/checkout"}],
        }
        assert (await client.post("/v1/rules", json=rule, headers=admin_headers)).status_code == 201
        app = {"Authorization": f"Bearer {await make_app_key('ingest', 'read')}"}
        other = {**PAGEVIEW, "data": {"host": "www.example.com", "path": "/"}}
        accepted = await client.post("/v1/events", json=[PAGEVIEW, other], headers=app)
        assert accepted.status_code == 202, accepted.text

        async def alerts() -> list[dict[str, Any]]:
            return list((await client.get("/v1/alerts", headers=app)).json()["items"])

        [alert] = await eventually(alerts, lambda items: len(items) == 1)
        assert (alert["rule"], alert["module"], alert["key"]) == ("web.checkout", "web", "s-1")
        assert alert["event_ids"] == [accepted.json()["ids"][0]]
