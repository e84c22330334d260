"""The presence alert: a camera's last N detections all people; alike one by one, in bulk and across restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.activity import ingest_events
from eventeye.activity.service import PRESENCE_RULE
from eventeye.config import Settings
from eventeye.core.alerts import repository as alerts_repository
from tests.activity.test_endpoints import bearer, stored_count, wait_stored
from tests.fixtures.cli import run_cli_async
from tests.fixtures.server import run_server, server_env

# The example stream of the original task: a car at 18:31:00 breaks the first streak,
# the fifth pedestrian after it (18:37:00) raises the one alert.
STREAM = [
    ("2023-08-10T18:30:30", "pedestrian"),
    ("2023-08-10T18:31:00", "pedestrian"),
    ("2023-08-10T18:31:00", "car"),
    ("2023-08-10T18:31:30", "pedestrian"),
    ("2023-08-10T18:35:00", "pedestrian"),
    ("2023-08-10T18:35:30", "pedestrian"),
    ("2023-08-10T18:36:00", "pedestrian"),
    ("2023-08-10T18:37:00", "pedestrian"),
    ("2023-08-10T18:37:30", "pedestrian"),
]
ALERTED_AT = ["2023-08-10T18:37:00+00:00"]


def events(stream: list[tuple[str, str]], camera_id: str = "default") -> list[dict[str, str]]:
    return [{"time": time, "type": type, "camera_id": camera_id} for time, type in stream]


async def presence_alerts(engine: AsyncEngine) -> list[tuple[str, str]]:
    """(camera, time of the detection that completed the streak), oldest first."""
    where = alerts_repository.AlertFilter(rule=PRESENCE_RULE)
    async with engine.connect() as conn:
        alerts = await alerts_repository.list_alerts(conn, where=where, limit=100, after=None)
    return sorted((alert.key, alert.payload["event"]["occurred_at"]) for alert in alerts)


class TestOneByOne:
    async def test_the_example_stream_raises_one_alert(
        self, client: httpx.AsyncClient, engine: AsyncEngine, make_app_key: Callable[..., Awaitable[str]]
    ) -> None:
        headers = bearer(await make_app_key("ingest", "read"))
        for count, event in enumerate(events(STREAM), start=1):
            response = await client.post("/v1/activity/detections", json=event, headers=headers)
            assert response.status_code == 202, response.text
            await wait_stored(engine, count)
        listed = await client.get("/v1/alerts", params={"rule": PRESENCE_RULE}, headers=headers)
        assert listed.status_code == 200, listed.text
        [alert] = listed.json()["items"]
        assert alert["key"] == "default"
        assert alert["payload"]["event"]["occurred_at"] == ALERTED_AT[0]
        assert alert["payload"]["event"]["attributes"] == {
            "camera_id": "default",
            "type": "pedestrian",
            "group": "people",
        }


class TestBulk:
    @pytest.mark.parametrize("chunk_size", [1000, 2])
    async def test_the_example_stream_raises_the_same_alert(
        self, engine: AsyncEngine, settings: Settings, chunk_size: int
    ) -> None:
        report = await ingest_events(events(STREAM), settings=settings, engine=engine, chunk_size=chunk_size)
        assert report.stored == len(STREAM)
        assert await presence_alerts(engine) == [("default", at) for at in ALERTED_AT]

    async def test_a_vehicle_re_arms_it(self, engine: AsyncEngine, settings: Settings) -> None:
        people = [(f"2023-08-10T18:{minute:02d}:00", "bicycle") for minute in range(10)]
        stream = people[:5] + [("2023-08-10T18:04:30", "van")] + people[5:]
        await ingest_events(events(stream), settings=settings, engine=engine)
        fired = [at for _, at in await presence_alerts(engine)]
        assert fired == ["2023-08-10T18:04:00+00:00", "2023-08-10T18:09:00+00:00"]

    async def test_each_camera_has_its_own_streak(self, engine: AsyncEngine, settings: Settings) -> None:
        interleaved = [
            event for pair in zip(events(STREAM[3:], "a"), events(STREAM[:6], "b"), strict=True) for event in pair
        ]
        await ingest_events(interleaved, settings=settings, engine=engine)
        assert await presence_alerts(engine) == [("a", "2023-08-10T18:37:00+00:00")]

    async def test_the_streak_length_is_a_setting(
        self, engine: AsyncEngine, make_settings: Callable[..., Settings]
    ) -> None:
        await ingest_events(events(STREAM), settings=make_settings(activity_presence_streak=2), engine=engine)
        fired = [at for _, at in await presence_alerts(engine)]
        assert fired == ["2023-08-10T18:31:00+00:00", "2023-08-10T18:35:00+00:00"]


class TestRestart:
    async def test_a_new_process_continues_the_streak(self, engine: AsyncEngine, settings: Settings) -> None:
        """Each call runs in a fresh runtime (no state in memory): the streak lives in the database."""
        for part in (STREAM[:6], STREAM[6:7], STREAM[7:]):
            await ingest_events(events(part), settings=settings, engine=engine)
        assert await presence_alerts(engine) == [("default", at) for at in ALERTED_AT]

    @pytest.mark.slow
    async def test_a_killed_server_keeps_the_streak(
        self, engine: AsyncEngine, database_url: str, tmp_path: Path
    ) -> None:
        env = server_env(database_url, tmp_path / "data")
        created = await run_cli_async(
            "apps", "create", "camera", "--scope", "ingest", "--scope", "read", env=env, cwd=tmp_path
        )
        assert created.returncode == 0, created.stderr
        headers = bearer(created.stdout.strip())
        for part in (STREAM[:6], STREAM[6:]):
            with run_server(env, tmp_path) as server:
                await _post_one_by_one(server.url, headers, events(part), engine)
                server.kill()
        assert await presence_alerts(engine) == [("default", at) for at in ALERTED_AT]


async def _post_one_by_one(url: str, headers: dict[str, str], items: list[dict[str, Any]], engine: AsyncEngine) -> None:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        for item in items:
            before = await stored_count(engine)
            response = await http.post("/v1/activity/detections", json=item)
            assert response.status_code == 202, response.text
            await wait_stored(engine, before + 1)
    await asyncio.sleep(0)
