"""Real processes on a real broker: workers that crash or share a group, and the /alerts stream of a server."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.bus import KafkaBus, Message
from eventeye.core.storage.tables import alerts
from eventeye.vehicles.simulator import detections
from eventeye.vehicles.tables import vehicles_make_counts
from tests.fixtures.server import ServerProcess, run_server, server_env
from tests.fixtures.waiting import eventually
from tests.vehicles.conftest import (
    CIVIC,
    F150,
    FAST_KAFKA_ENV,
    LAND_CRUISER,
    kafka_names,
    produce,
    read_topic,
    stored,
    wait_stored,
)

pytestmark = pytest.mark.slow

PARTITIONS = 6
PASSWORD = "a perfectly long password"


@pytest.fixture
def names() -> dict[str, str]:
    return kafka_names()


@pytest.fixture
def env(database_url: str, tmp_path: Path, kafka_bootstrap_servers: str, names: dict[str, str]) -> dict[str, str]:
    return server_env(
        database_url,
        tmp_path / "data",
        EVENTEYE_MODULES="vehicles",
        EVENTEYE_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap_servers,
        EVENTEYE_VEHICLES_TOPIC_PARTITIONS=str(PARTITIONS),
        **{f"EVENTEYE_{name.upper()}": value for name, value in names.items()},
        **FAST_KAFKA_ENV,
    )


@pytest.fixture
def bus(kafka_bootstrap_servers: str) -> KafkaBus:
    return KafkaBus(Settings(kafka_bootstrap_servers=kafka_bootstrap_servers))


async def made_counts(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.sum(vehicles_make_counts.c.detections)))).scalar_one()
    return int(total or 0)


async def alert_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(alerts))).scalar_one())


async def trickle(bus: KafkaBus, topic: str, values: list[bytes], *, per_tick: int, tick: float) -> None:
    """Publish ``values`` a few at a time, so that the stream is still flowing when a worker dies."""
    async with bus.publisher() as publisher:
        for start in range(0, len(values), per_tick):
            await publisher.publish_many(Message(topic, value) for value in values[start : start + per_tick])
            await asyncio.sleep(tick)


def held_partitions(worker: ServerProcess) -> set[int]:
    """The partitions a worker said it reads, in its latest word on it."""
    lines = re.findall(r"vehicles reads partitions: (.*)", worker.log())
    return {int(n) for n in re.findall(r"\[(\d+)\]", lines[-1])} if lines else set()


class TestWorkers:
    async def test_a_worker_killed_mid_stream_loses_nothing_and_doubles_nothing(
        self, engine: AsyncEngine, env: dict[str, str], names: dict[str, str], bus: KafkaBus, tmp_path: Path
    ) -> None:
        topic = names["vehicles_detections_topic"]
        sample = detections(random.Random(5))
        values = [orjson.dumps(next(sample)) for _ in range(3000)]
        suspicious = sum(b'"Category":"SUV"' in value for value in values)
        await bus.ensure_topics([topic], partitions=PARTITIONS)
        flowing = asyncio.create_task(trickle(bus, topic, values, per_tick=50, tick=0.05))
        try:
            with run_server(env, tmp_path, command="worker") as first:
                await wait_stored(engine, 300, within=60)
                first.kill()
            at_the_crash = await stored(engine)
            with run_server(env, tmp_path, command="worker"):
                await flowing
                await wait_stored(engine, len(values), within=90)
                await eventually(lambda: alert_count(engine), lambda n: n >= suspicious, timeout=10)
                await asyncio.sleep(1.5)  # anything delivered twice would be processed by now
                assert at_the_crash < len(values)
                assert await stored(engine) == len(values)
                assert await made_counts(engine) == len(values)
                assert await alert_count(engine) == suspicious
        finally:
            flowing.cancel()
            await asyncio.gather(flowing, return_exceptions=True)

    async def test_two_workers_in_one_group_split_the_partitions(
        self, engine: AsyncEngine, env: dict[str, str], names: dict[str, str], bus: KafkaBus, tmp_path: Path
    ) -> None:
        topic = names["vehicles_detections_topic"]
        await bus.ensure_topics([topic], partitions=PARTITIONS)
        with run_server(env, tmp_path, command="worker") as one, run_server(env, tmp_path, command="worker") as two:

            async def split() -> tuple[set[int], set[int]]:
                await asyncio.sleep(0.2)
                return held_partitions(one), held_partitions(two)

            def shared(held: tuple[set[int], set[int]]) -> bool:
                return all(held) and not held[0] & held[1] and held[0] | held[1] == set(range(PARTITIONS))

            await eventually(split, shared, timeout=30)
            await produce(bus, topic, *(orjson.dumps({**CIVIC, "Year": 1990 + n % 30}) for n in range(600)))
            await wait_stored(engine, 600, within=60)

            assert shared(await split())
            await asyncio.sleep(1)
            assert await stored(engine) == 600
            assert await made_counts(engine) == 600


async def admin_headers(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    created = await http.post(f"{url}/users", json={"username": "admin", "password": PASSWORD})
    assert created.status_code == 201, created.text
    response = await http.post(f"{url}/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@asynccontextmanager
async def sse(
    http: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """The ``event: alert`` frames of ``url`` as they come, in a queue."""
    frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    connected = asyncio.Event()

    async def listen() -> None:
        async with http.stream("GET", url, headers=headers, timeout=None) as response:
            assert response.status_code == 200
            connected.set()
            frame: dict[str, str] = {}
            async for line in response.aiter_lines():
                if not line:
                    if frame.get("event") == "alert":
                        await frames.put({"id": frame["id"], "data": orjson.loads(frame["data"])})
                    frame = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    frame[name] = value.strip()

    task = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(connected.wait(), 15)
        await asyncio.sleep(0.2)  # the subscription is taken as the response starts
        yield frames
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class TestAlertStream:
    async def test_a_suspicious_vehicle_alerts_once_on_the_stream_and_the_topic(
        self, engine: AsyncEngine, env: dict[str, str], names: dict[str, str], bus: KafkaBus, tmp_path: Path
    ) -> None:
        topic = names["vehicles_detections_topic"]
        with run_server(env, tmp_path) as server:
            async with httpx.AsyncClient(timeout=15) as http:
                headers = await admin_headers(http, server.url)
                async with sse(http, f"{server.url}/alerts", headers) as frames:
                    await produce(bus, topic, orjson.dumps(LAND_CRUISER), orjson.dumps(CIVIC), partitions=PARTITIONS)
                    first = await asyncio.wait_for(frames.get(), 20)
                    await wait_stored(engine, 2)
                    await asyncio.sleep(1)
                    assert frames.empty()
                on_topic = await read_topic(bus, names["vehicles_alerts_topic"], 2, within=5)

                await produce(bus, topic, orjson.dumps(F150), orjson.dumps({**LAND_CRUISER, "Make": "Jeep"}))
                await wait_stored(engine, 4)
                # As a browser's EventSource would: a stream token in the query, the last id in the header.
                issued = await http.post(f"{server.url}/v1/alerts/stream-token", headers=headers)
                assert issued.status_code == 200, issued.text
                url = f"{server.url}/alerts?token={issued.json()['token']}"
                async with sse(http, url, {"Last-Event-ID": first["id"]}) as frames:
                    missed = await asyncio.wait_for(frames.get(), 10)
                    await asyncio.sleep(0.5)
                    assert frames.empty()

        assert {key: first["data"][key] for key in LAND_CRUISER} == LAND_CRUISER
        assert first["data"]["rule"] == "vehicles.suspicious"
        assert [orjson.loads(record.value)["id"] for record in on_topic] == [first["id"]]
        assert missed["data"]["Make"] == "Jeep"
        assert missed["id"] != first["id"]
