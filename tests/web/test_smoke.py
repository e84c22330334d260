from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx


async def test_event_flows_to_query(client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]]) -> None:
    key = await make_app_key("ingest", "read")
    headers = {"Authorization": f"Bearer {key}"}
    event = {
        "session_id": "e2085be5-9137-4e4e-80b5-f1ffddc25423",
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "www.consumeraffairs.com", "path": "/"},
        "timestamp": "2021-01-01 09:15:27.243860",
    }
    bad = {**event, "data": {"host": "x"}}
    response = await client.post("/v1/events", json=[event, bad], headers=headers)
    assert response.status_code == 202, response.text
    for _ in range(100):
        page = await client.get(f"/v1/sessions/{event['session_id']}/events", headers=headers)
        if page.json()["items"]:
            break
        await asyncio.sleep(0.02)
    items = page.json()["items"]
    assert len(items) == 1
    assert items[0]["data"] == event["data"]
    errors = (await client.get("/v1/errors", headers=headers)).json()["items"]
    assert [e["kind"] for e in errors] == ["invalid_payload"]
    assert errors[0]["field"] == "data.path"
