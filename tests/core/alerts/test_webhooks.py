"""Webhook deliveries against a real local receiver: signatures, retries with backoff, dead letters, the log."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from eventeye.core.alerts.channels.webhook import sign
from tests.core.alerts.helpers import EVERY_PAGEVIEW, pageview
from tests.core.alerts.receiver import Receiver, receiver
from tests.core.conftest import RunApp
from tests.fixtures.server import free_port
from tests.fixtures.waiting import eventually

RULE = {**EVERY_PAGEVIEW, "sinks": [{"kind": "webhook", "webhook": "ops"}, {"kind": "log", "level": "error"}]}
BACKOFF = 0.2


@dataclass
class Api:
    client: httpx.AsyncClient
    admin: dict[str, str]
    app: dict[str, str]

    async def webhook(self, url: str, **extra: Any) -> str:
        created = await self.client.post("/v1/webhooks", json={"name": "ops", "url": url, **extra}, headers=self.admin)
        assert created.status_code == 201, created.text
        return str(created.json()["secret"])

    async def alert(self) -> dict[str, Any]:
        accepted = await self.client.post("/v1/events", json=[pageview("s1")], headers=self.app)
        assert accepted.status_code == 202
        page = await eventually(
            lambda: self.client.get("/v1/alerts", headers=self.admin), lambda r: len(r.json()["items"]) == 1
        )
        return dict(page.json()["items"][0])

    async def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/webhooks/ops/deliveries", params=params, headers=self.admin)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def settled(self, status: str) -> dict[str, Any]:
        found = await eventually(
            self.deliveries, lambda items: len(items) == 1 and items[0]["status"] == status, timeout=15
        )
        return found[0]


@pytest.fixture
async def api(run_app: RunApp) -> AsyncIterator[Api]:
    overrides = {
        "rules": [RULE],
        "alerts_delivery_backoff": BACKOFF,
        "alerts_delivery_poll": 0.05,
        "alerts_delivery_max_attempts": 3,
        "alerts_webhook_timeout": 2,
    }
    async with run_app(**overrides) as running:
        client = running.client
        await client.post("/users", json={"username": "admin", "password": "correct horse battery"})
        login = await client.post("/login", data={"username": "admin", "password": "correct horse battery"})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        key = await client.post("/v1/apps", json={"name": "shop", "scopes": ["ingest"]}, headers=admin)
        yield Api(client, admin, {"Authorization": f"Bearer {key.json()['key']}"})


def check_signed(secret: str, request: Any, alert: dict[str, Any]) -> None:
    headers = request.headers
    expected = sign(secret, headers["x-eventeye-timestamp"], request.body)
    assert hmac.compare_digest(expected, headers["x-eventeye-signature"])
    assert abs(int(headers["x-eventeye-timestamp"]) - time.time()) < 60
    assert headers["content-type"] == "application/json"
    assert headers["x-eventeye-alert"] == alert["id"]
    assert orjson.loads(request.body)["id"] == alert["id"]


async def test_signed_and_retried_with_backoff_until_accepted(api: Api) -> None:
    async with receiver(500, 503) as hook:
        secret = await api.webhook(hook.url)
        alert = await api.alert()
        delivery = await api.settled("delivered")
    assert (delivery["attempts"], delivery["last_status"], delivery["alert_id"]) == (3, 200, alert["id"])
    assert len(hook.received) == 3
    for request in hook.received:
        check_signed(secret, request, alert)
    assert len({request.headers["x-eventeye-delivery"] for request in hook.received}) == 1
    gaps = [later.at - earlier.at for earlier, later in zip(hook.received, hook.received[1:], strict=False)]
    assert gaps[0] >= BACKOFF * 0.9
    assert gaps[1] >= 2 * BACKOFF * 0.9


async def test_a_wrong_secret_does_not_verify(api: Api) -> None:
    async with receiver() as hook:
        secret = await api.webhook(hook.url)
        await api.alert()
        await api.settled("delivered")
    [request] = hook.received
    forged = sign(secret + "x", request.headers["x-eventeye-timestamp"], request.body)
    assert not hmac.compare_digest(forged, request.headers["x-eventeye-signature"])
    tampered = sign(secret, request.headers["x-eventeye-timestamp"], request.body + b" ")
    assert not hmac.compare_digest(tampered, request.headers["x-eventeye-signature"])


async def test_dead_lettered_after_the_last_attempt_and_queued_again_on_request(api: Api) -> None:
    async with receiver(default=500) as hook:
        await api.webhook(hook.url)
        await api.alert()
        dead = await api.settled("dead")
        assert (dead["attempts"], dead["last_status"], dead["last_error"]) == (3, 500, "HTTP 500")
        assert [item["id"] for item in await api.deliveries(status="dead")] == [dead["id"]]
        assert await api.deliveries(status="pending") == []
        await _quiet(hook, 3)
        hook.default = 200
        retried = await api.client.post(f"/v1/webhooks/ops/deliveries/{dead['id']}/retry", headers=api.admin)
        assert retried.status_code == 202
        delivered = await api.settled("delivered")
    assert delivered["attempts"] == 1
    assert len(hook.received) == 4


async def test_per_webhook_attempts_and_an_unreachable_receiver(api: Api) -> None:
    await api.webhook(f"http://127.0.0.1:{free_port()}/nobody-listens", max_attempts=2)
    await api.alert()
    dead = await api.settled("dead")
    assert dead["attempts"] == 2
    assert dead["last_status"] is None
    assert dead["last_error"].startswith("ConnectError")


async def test_a_deleted_webhook_dead_letters_at_once(api: Api) -> None:
    async with receiver(default=500) as hook:
        await api.webhook(hook.url)
        await api.alert()
        await eventually(lambda: _count(hook), lambda n: n >= 1)
        assert (await api.client.delete("/v1/webhooks/ops", headers=api.admin)).status_code == 204
        await _quiet(hook, 1)


async def test_the_log_sink_logs_each_alert(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="eventeye.alerts")
    async with receiver() as hook:
        await api.webhook(hook.url)
        alert = await api.alert()
        await api.settled("delivered")
    records = await eventually(
        lambda: _records(caplog), lambda found: any(alert["id"] in r.getMessage() for r in found)
    )
    [record] = [r for r in records if alert["id"] in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "secret" not in record.getMessage()


async def _count(hook: Receiver) -> int:
    return len(hook.received)


async def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "eventeye.alerts"]


async def _quiet(hook: Receiver, expected: int) -> None:
    """No further request arrives for a while (well past the backoff)."""
    deadline = time.monotonic() + 6 * BACKOFF
    while time.monotonic() < deadline:
        assert len(hook.received) == expected
        await asyncio.sleep(0.05)
