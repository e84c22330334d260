"""Building alerts, and reading Server-Sent Events from a real server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from eventeye.core.alerts.repository import Alert


def alert(rule: str = "r", module: str = "web", key: str = "", at: datetime | None = None) -> Alert:
    return Alert(
        id=uuid.uuid4(),
        rule=rule,
        kind="match",
        module=module,
        key=key,
        severity="warning",
        event_ids=[str(uuid.uuid4())],
        payload={},
        created_at=at or datetime.now(UTC),
    )


@dataclass
class SseClient:
    """Collects the frames of one SSE response as they arrive."""

    response: httpx.Response
    events: list[dict[str, Any]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    closed: bool = False

    async def read(self) -> None:
        frame: dict[str, Any] = {}
        try:
            async for line in self.response.aiter_lines():
                if not line:
                    if "data" in frame:
                        frame["data"] = orjson.loads(frame["data"])
                        self.events.append(frame)
                    frame = {}
                elif line.startswith(":"):
                    self.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    frame[name] = value.removeprefix(" ")
        except httpx.HTTPError:
            pass
        self.closed = True

    @property
    def ids(self) -> list[str]:
        return [event["id"] for event in self.events]

    async def wait_for(self, count: int, within: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        while len(self.events) < count:
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"got {len(self.events)} of {count} events (closed: {self.closed})")
            await asyncio.sleep(0.01)
        return self.events


@asynccontextmanager
async def sse(http: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> AsyncIterator[SseClient]:
    """Open ``url`` as an event stream and collect its frames in the background."""
    async with http.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        client = SseClient(response)
        task = asyncio.create_task(client.read())
        try:
            yield client
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@dataclass
class Server:
    """A real eventeye server with an admin and an application that may ingest and read."""

    url: str
    admin: dict[str, str]
    app: dict[str, str]

    def post_events(self, events: list[dict[str, Any]]) -> list[str]:
        response = httpx.post(f"{self.url}/v1/events", json=events, headers=self.app, timeout=10)
        assert response.status_code == 202, response.text
        return list(response.json()["ids"])


def prepare(url: str, admin_password: str = "correct horse battery") -> Server:
    """Sign up the admin (first user) and create an application key."""
    created = httpx.post(f"{url}/users", json={"username": "admin", "password": admin_password}, timeout=30)
    assert created.status_code in (201, 409), created.text
    login = httpx.post(f"{url}/login", data={"username": "admin", "password": admin_password}, timeout=30)
    admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    name = f"app-{uuid.uuid4().hex[:8]}"
    key = httpx.post(f"{url}/v1/apps", json={"name": name, "scopes": ["ingest", "read"]}, headers=admin, timeout=30)
    assert key.status_code == 201, key.text
    return Server(url=url, admin=admin, app={"Authorization": f"Bearer {key.json()['key']}"})


def pageview(session: str, path: str = "/") -> dict[str, Any]:
    return {
        "session_id": session,
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "www.example.com", "path": path},
        "timestamp": "2021-01-01 09:15:27.243860",
    }


EVERY_PAGEVIEW = {
    "name": "web.pageview",
    "kind": "match",
    "module": "web",
    "types": ["page interaction/pageview"],
    "key": ["session_id"],
}
