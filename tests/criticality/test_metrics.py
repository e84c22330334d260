"""Per-app update and poll counters and the latest-status gauge on ``/metrics``."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from eventeye.criticality import handlers
from tests.criticality.conftest import poll, post_change


async def samples(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.startswith("eventeye_criticality_"):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_counts_updates_and_polls_per_app(client: httpx.AsyncClient) -> None:
    producer, consumer = f"p-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    await post_change(client, producer, 3, "2020-01-01T00:00:00Z")
    await post_change(client, producer, 4, "2020-01-01T00:00:01Z")
    await poll(client, consumer)
    await poll(client, consumer)
    await poll(client, consumer)
    found = await samples(client)
    assert found[("eventeye_criticality_updates_total", (("app", producer),))] == 2
    assert found[("eventeye_criticality_polls_total", (("app", consumer), ("outcome", "state")))] == 1
    assert found[("eventeye_criticality_polls_total", (("app", consumer), ("outcome", "empty")))] == 2


async def test_the_gauge_follows_the_latest_state(client: httpx.AsyncClient, app: FastAPI) -> None:
    newest = await post_change(client, "producer", 4, "2030-01-01T00:00:00Z")
    await poll(client, f"c-{uuid.uuid4().hex[:8]}")
    found = await samples(client)
    assert found[("eventeye_criticality_latest_status", ())] == 4
    assert found[("eventeye_criticality_latest_change_id", ())] == newest
    # A change stored by another process reaches the gauge through the refresh.
    newer = await post_change(client, "elsewhere", 2, "2030-01-01T00:00:05Z")
    await post_change(client, "elsewhere", 5, "2029-01-01T00:00:00Z")
    await handlers.refresh_latest_gauge(app.state.runtime)
    found = await samples(client)
    assert found[("eventeye_criticality_latest_status", ())] == 2
    assert found[("eventeye_criticality_latest_change_id", ())] == newer
