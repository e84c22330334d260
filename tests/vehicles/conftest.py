"""Fixtures of the vehicles tests: sample detections, keys, a Kafka-configured app, and waiting for the store."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.config import Settings
from eventeye.core.bus import KafkaBus, KafkaTimeouts, Message, Record
from eventeye.vehicles.tables import vehicles_detections
from tests.conftest import login_headers
from tests.fixtures.waiting import eventually
from tests.lifespan import running

# Short group timings: a rebalance on the test broker takes about half the session timeout.
FAST_KAFKA: dict[str, Any] = {
    "kafka_session_timeout": 1.0,
    "kafka_heartbeat_interval": 0.2,
    "kafka_fetch_max_wait": 0.02,
    "kafka_enable_idempotence": False,
    "kafka_security_protocol": "PLAINTEXT",
}
FAST_KAFKA_ENV = {f"EVENTEYE_{name.upper()}": str(value) for name, value in FAST_KAFKA.items()}

LAND_CRUISER = {"Year": 2011, "Make": "Toyota", "Model": "Land Cruiser", "Category": "SUV"}
CIVIC = {"Year": 2015, "Make": "Honda", "Model": "Civic", "Category": "Sedan"}
F150 = {"Year": 2019, "Make": "Ford", "Model": "F-150", "Category": "Pickup"}


def detection(**changes: Any) -> dict[str, Any]:
    return {**CIVIC, **changes}


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def kafka_names() -> dict[str, str]:
    """A topic pair and group of this test alone (the broker is shared by the session)."""
    return {
        "vehicles_detections_topic": fresh("detections"),
        "vehicles_alerts_topic": fresh("alerts"),
        "kafka_group_id": fresh("group"),
    }


async def stored(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(vehicles_detections))).scalar_one())


async def wait_stored(engine: AsyncEngine, count: int, *, within: float = 15.0) -> int:
    """Wait until ``count`` detections are stored (never more: the last count is returned)."""
    return await eventually(lambda: stored(engine), lambda n: n >= count, timeout=within)


@pytest.fixture
async def ingest_headers(make_app_key: Callable[..., Awaitable[str]]) -> dict[str, str]:
    """An application allowed to post detections and read them."""
    return {"Authorization": f"Bearer {await make_app_key('ingest', 'read', name='camera')}"}


@pytest.fixture
def kafka_settings(make_settings: Callable[..., Settings], kafka_bootstrap_servers: str) -> Settings:
    return make_settings(kafka_bootstrap_servers=kafka_bootstrap_servers, **kafka_names(), **FAST_KAFKA)


@pytest.fixture
async def kafka_client(kafka_settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an in-process app that consumes and produces the test's Kafka topics."""
    application = create_app(kafka_settings, engine=engine)
    async with running(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def user_headers(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, str]:
    """Bearer headers of a plain (non-admin) user, as the detections API's users are."""
    body = {"username": "analyst", "password": "a perfectly long password"}
    created = await client.post("/users", json=body, headers=admin_headers)
    assert created.status_code == 201, created.text
    return await login_headers(client, "analyst", "a perfectly long password")


async def post(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.post("/detections", json=body, headers=headers)


@pytest.fixture
async def kafka_admin(kafka_client: httpx.AsyncClient) -> dict[str, str]:
    """Bearer headers of the first (admin) user of the Kafka-configured app."""
    created = await kafka_client.post("/users", json={"username": "admin", "password": "correct horse battery staple"})
    assert created.status_code == 201, created.text
    return await login_headers(kafka_client, "admin", "correct horse battery staple")


@pytest.fixture
def bus(kafka_settings: Settings) -> KafkaBus:
    """A bus on the test broker with short timings, for producing and reading the test's topics."""
    return KafkaBus(kafka_settings, timeouts=KafkaTimeouts(session=1.0, heartbeat=0.2, fetch_max_wait=0.02))


async def produce(bus: KafkaBus, topic: str, *values: bytes, partitions: int = 6) -> None:
    await bus.ensure_topics([topic], partitions=partitions)
    async with bus.publisher() as publisher:
        await publisher.publish_many(Message(topic, value) for value in values)


async def read_topic(bus: KafkaBus, topic: str, count: int, *, within: float = 15.0) -> list[Record]:
    """What ``topic`` holds once it holds ``count`` records (read by a group of its own), or fail."""
    await bus.ensure_topics([topic])
    records: list[Record] = []
    async with bus.consumer([topic], group_id=fresh("reader")) as consumer:
        deadline = time.monotonic() + within
        while len(records) < count and time.monotonic() < deadline:
            records.extend(await consumer.poll(wait=0.2))
    return records
