"""A first pass over the auth flow on every backend."""

from __future__ import annotations

import httpx


async def test_first_user_is_admin_and_can_create_app(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    created = await client.post("/v1/apps", json={"name": "shop", "scopes": ["ingest"]}, headers=admin_headers)
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    listed = await client.get("/v1/apps", headers={"X-API-Key": key})
    assert listed.status_code == 403
    assert listed.json()["error"]["code"] == "forbidden"
