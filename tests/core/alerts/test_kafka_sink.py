"""The Kafka sink: a rule's alerts become records on its topic (in-memory twin, and a real broker)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from eventeye.core.bus import KafkaBus, MemoryBus
from eventeye.modules import all_modules
from tests.core.alerts.helpers import EVERY_PAGEVIEW, pageview
from tests.core.bus.conftest import FAST, drain, kafka_settings
from tests.core.conftest import RunApp, Running
from tests.fixtures.waiting import eventually


@asynccontextmanager
async def web_app(run_app: RunApp, topic: str, **overrides: Any) -> AsyncIterator[tuple[Running, dict[str, Any]]]:
    rule = {**EVERY_PAGEVIEW, "sinks": [{"kind": "kafka", "topic": topic}]}
    web = [module for module in all_modules() if module.name == "web"]
    async with run_app(modules=web, rules=[rule], alerts_delivery_poll=0.05, **overrides) as running:
        client = running.client
        await client.post("/users", json={"username": "admin", "password": "correct horse battery"})
        login = await client.post("/login", data={"username": "admin", "password": "correct horse battery"})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        key = (await client.post("/v1/apps", json={"name": "shop", "scopes": ["ingest"]}, headers=admin)).json()
        await client.post("/v1/events", json=[pageview("s1")], headers={"Authorization": f"Bearer {key['key']}"})
        page = await eventually(lambda: client.get("/v1/alerts", headers=admin), lambda r: len(r.json()["items"]) == 1)
        yield running, page.json()["items"][0]


async def test_alerts_are_published_on_the_in_memory_bus(run_app: RunApp) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    async with web_app(run_app, topic) as (running, alert):
        bus = running.runtime.alerts.bus
        assert isinstance(bus, MemoryBus)
        [record] = await eventually(lambda: _records(bus, topic), lambda found: len(found) == 1)
    assert orjson.loads(record.value)["id"] == alert["id"]
    assert record.key == b"s1"


async def _records(bus: MemoryBus, topic: str) -> list[Any]:
    return bus.records(topic)


@pytest.mark.slow
async def test_alerts_are_published_on_a_real_broker(run_app: RunApp, kafka_bootstrap_servers: str) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    reader = KafkaBus(kafka_settings(kafka_bootstrap_servers), timeouts=FAST)
    await reader.ensure_topics([topic])
    async with (
        web_app(run_app, topic, kafka_bootstrap_servers=kafka_bootstrap_servers) as (_, alert),
        reader.consumer([topic], group_id=f"g-{uuid.uuid4().hex[:8]}") as consumer,
    ):
        records = await drain(consumer, 1)
    [record] = records
    assert orjson.loads(record.value)["id"] == alert["id"]
    assert record.key == b"s1"
    assert ("alert-id", alert["id"].encode()) in record.headers
