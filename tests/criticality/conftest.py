"""Fixtures of the criticality tests: a shared token and small HTTP helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from eventeye.config import Settings

TOKEN = "shared-secapp-token-for-tests"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(criticality_token=TOKEN)


def secapp_headers(app_name: str, token: str = TOKEN) -> dict[str, str]:
    return {"App-name": app_name, "token": token}


async def post_change(client: httpx.AsyncClient, app_name: str, status: int, change_at: str) -> int:
    """POST a change that must be accepted; returns its processed_id."""
    response = await client.post(
        "/secapp/update",
        json={"current_status": status, "Change_at": change_at},
        headers=secapp_headers(app_name),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"processed_id"}
    return int(body["processed_id"])


async def poll(client: httpx.AsyncClient, app_name: str) -> dict[str, Any]:
    """GET /secapp/update as ``app_name``; must succeed."""
    response = await client.get("/secapp/update", headers=secapp_headers(app_name))
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body
