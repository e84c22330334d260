"""The producer simulator and ``eventeye vehicles produce``: into the topic, or through the HTTP API."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.bus import KafkaBus, MemoryBus
from eventeye.vehicles.service import parse_record
from eventeye.vehicles.simulator import CATALOGUE, Plan, produce_to_topic
from tests.fixtures.cli import run_cli_async
from tests.fixtures.server import run_server, server_env
from tests.vehicles.conftest import fresh, read_topic, wait_stored

KNOWN = {(make, model, category) for make, model, category, _, _ in CATALOGUE}


class TestSimulator:
    @pytest.mark.parametrize("form", ["json", "repr"])
    async def test_it_sends_count_valid_detections_at_about_the_rate(self, form: str) -> None:
        bus = MemoryBus()
        started = time.monotonic()

        report = await produce_to_topic(bus, "detections", Plan(rate=400, count=40, form=form, seed=1))  # type: ignore[arg-type]

        elapsed = time.monotonic() - started
        records = bus.records("detections")
        assert (report.sent, report.failed, len(records)) == (40, 0, 40)
        assert elapsed >= 0.08  # 40 at 400/s take a tenth of a second
        bodies = [parse_record(record.value)[1] for record in records]
        assert all(b'"Year"' in body for body in bodies)
        assert {(r["Make"], r["Model"], r["Category"]) for r in map(_loads, bodies)} <= KNOWN


def _loads(body: bytes) -> dict[str, str]:
    return dict(orjson.loads(body))


@pytest.mark.slow
class TestCommand:
    async def test_into_the_topic_in_the_original_single_quoted_form(
        self, kafka_bootstrap_servers: str, tmp_path: Path
    ) -> None:
        topic = fresh("produced")
        env = {"EVENTEYE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers, "EVENTEYE_VEHICLES_TOPIC_PARTITIONS": "2"}

        done = await run_cli_async(
            "vehicles", "produce", "--rate", "1000", "--count", "30", "--form", "repr", "--topic", topic,
            env=env, cwd=tmp_path,
        )  # fmt: skip

        assert done.returncode == 0, done.stderr
        assert "sent 30 detection(s)" in done.stdout
        records = await read_topic(KafkaBus(Settings(kafka_bootstrap_servers=kafka_bootstrap_servers)), topic, 30)
        assert len(records) == 30
        assert all(record.value.startswith(b"{'Year': ") for record in records)
        assert all(parse_record(record.value)[0] == "detection" for record in records)

    async def test_through_the_http_api_without_kafka(
        self, engine: AsyncEngine, database_url: str, tmp_path: Path
    ) -> None:
        env = server_env(database_url, tmp_path / "data", EVENTEYE_MODULES="vehicles")
        with run_server(env, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
                key = await ingest_key(http)
            done = await run_cli_async(
                "vehicles", "produce", "--rate", "500", "--count", "50", "--url", server.url,
                env={**env, "EVENTEYE_API_KEY": key}, cwd=tmp_path,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr + done.stdout
            assert await wait_stored(engine, 50) == 50

    async def test_posting_needs_a_key(self, tmp_path: Path) -> None:
        done = await run_cli_async(
            "vehicles", "produce", "--rate", "5", "--count", "1", "--url", "http://127.0.0.1:9", env={}, cwd=tmp_path
        )

        assert done.returncode == 2
        assert "--api-key" in done.stderr


async def ingest_key(http: httpx.AsyncClient) -> str:
    password = "a perfectly long password"
    assert (await http.post("/users", json={"username": "root", "password": password})).status_code == 201
    token = (await http.post("/login", data={"username": "root", "password": password})).json()["access_token"]
    created = await http.post(
        "/v1/apps", json={"name": "camera", "scopes": ["ingest"]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])
