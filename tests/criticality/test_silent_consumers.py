"""The absence alert: a consumer app that stops polling raises one alert per silence."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from eventeye.config import Settings
from tests.criticality.conftest import TOKEN, poll
from tests.fixtures.waiting import eventually

RULE = "criticality.silent-consumer"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        criticality_token=TOKEN,
        criticality_consumer_timeout=timedelta(seconds=1),
        rules_timer_interval=timedelta(milliseconds=100),
    )


async def silent_alerts(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/alerts?rule={RULE}", headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_fires_once_per_silence_and_rearms_on_the_next_poll(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await poll(client, "reader")
    await poll(client, "other")
    first = await eventually(lambda: silent_alerts(client, admin_headers), lambda a: len(a) == 2, timeout=10)
    assert sorted((a["key"], a["module"]) for a in first) == [("other", "criticality"), ("reader", "criticality")]

    await asyncio.sleep(1.5)  # the silence goes on: no second alert for it
    assert len(await silent_alerts(client, admin_headers)) == 2

    await poll(client, "reader")  # re-arms; a new silence raises a new alert for reader only
    after = await eventually(lambda: silent_alerts(client, admin_headers), lambda a: len(a) == 3, timeout=10)
    assert sorted(a["key"] for a in after) == ["other", "reader", "reader"]


async def test_a_consumer_that_keeps_polling_raises_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for _ in range(8):
        await poll(client, "steady")
        await asyncio.sleep(0.25)
    assert await silent_alerts(client, admin_headers) == []
