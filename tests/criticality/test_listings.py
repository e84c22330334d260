"""``/v1/criticality/history`` and ``/v1/criticality/consumers``: content, keyset pages, access."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.criticality.tables import consumers
from tests.criticality.conftest import poll, post_change
from tests.fixtures.waiting import eventually

HISTORY = "/v1/criticality/history"
CONSUMERS = "/v1/criticality/consumers"


async def all_pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: object
) -> list[list[dict]]:
    pages: list[list[dict]] = []
    cursor = None
    for _ in range(50):
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination did not end")


class TestHistory:
    async def test_lists_every_change_with_its_producer_newest_first(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        first = await post_change(client, "north", 2, "2020-01-01T10:00:00Z")
        second = await post_change(client, "south", 4, "2020-01-01T09:00:00.250Z")
        items = (await client.get(HISTORY, headers=admin_headers)).json()["items"]
        assert [(i["processed_id"], i["producer"], i["current_status"]) for i in items] == [
            (second, "south", 4),
            (first, "north", 2),
        ]
        assert datetime.fromisoformat(items[0]["change_at"]) == datetime(2020, 1, 1, 9, 0, 0, 250000, tzinfo=UTC)

    async def test_pages_follow_the_cursor_without_gaps_or_repeats(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        ids = [await post_change(client, "north", 1 + n % 5, f"2020-01-01T10:00:0{n}Z") for n in range(5)]
        pages = await all_pages(client, HISTORY, admin_headers, limit=2)
        assert [len(page) for page in pages] == [2, 2, 1]
        assert [item["processed_id"] for page in pages for item in page] == ids[::-1]

    async def test_filters_by_producer(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        await post_change(client, "north", 2, "2020-01-01T10:00:00Z")
        south = await post_change(client, "south", 3, "2020-01-01T10:00:01Z")
        response = await client.get(HISTORY, params={"producer": "south"}, headers=admin_headers)
        assert [item["processed_id"] for item in response.json()["items"]] == [south]

    async def test_a_bad_limit_is_422_naming_it(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        response = await client.get(HISTORY, params={"limit": 0}, headers=admin_headers)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "limit"


async def listed_consumers(client: httpx.AsyncClient, headers: dict[str, str], names: set[str]) -> None:
    """Until every one of ``names`` is listed (polls are written in batches, shortly after)."""

    async def listed() -> set[str]:
        return {item["app_name"] for item in (await client.get(CONSUMERS, headers=headers)).json()["items"]}

    await eventually(listed, lambda seen: names <= seen, timeout=10)


class TestConsumers:
    async def test_shows_last_poll_and_the_last_state_given(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        await poll(client, "watcher")
        processed_id = await post_change(client, "producer", 4, "2020-01-01T10:00:00Z")
        before = datetime.now(UTC)
        await poll(client, "watcher")
        await poll(client, "watcher")

        async def listed() -> list[dict[str, Any]]:
            return list((await client.get(CONSUMERS, headers=admin_headers)).json()["items"])

        # polls are written in batches, within EVENTEYE_DEFERRED_WRITE_DELAY
        items = await eventually(listed, lambda items: bool(items) and items[0]["polls"] == 3, timeout=10)
        assert [item["app_name"] for item in items] == ["watcher"]
        watcher = items[0]
        assert watcher["polls"] == 3
        assert watcher["notified"] == {
            "processed_id": processed_id,
            "current_status": 4,
            "change_at": "2020-01-01T10:00:00Z",
        }
        assert datetime.fromisoformat(watcher["last_poll_at"]) >= before
        assert datetime.fromisoformat(watcher["first_poll_at"]) < before
        assert datetime.fromisoformat(watcher["notified_at"]) >= before
        assert watcher["overdue"] is False

    async def test_a_silent_consumer_is_overdue(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], engine: AsyncEngine
    ) -> None:
        await poll(client, "quiet")
        await poll(client, "chatty")
        await listed_consumers(client, admin_headers, {"quiet", "chatty"})
        async with engine.begin() as conn:
            silent_since = datetime.now(UTC) - timedelta(minutes=11)
            await conn.execute(
                update(consumers).where(consumers.c.app_name == "quiet").values(last_poll_at=silent_since)
            )
        items = (await client.get(CONSUMERS, headers=admin_headers)).json()["items"]
        assert {item["app_name"]: item["overdue"] for item in items} == {"chatty": False, "quiet": True}

    async def test_pages_by_name(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        names = [f"consumer-{n}" for n in range(5)]
        for name in reversed(names):
            await poll(client, name)
        await listed_consumers(client, admin_headers, set(names))
        pages = await all_pages(client, CONSUMERS, admin_headers, limit=2)
        assert [item["app_name"] for page in pages for item in page] == names


class TestAccess:
    async def test_anonymous_is_401(self, client: httpx.AsyncClient) -> None:
        for path in (HISTORY, CONSUMERS):
            response = await client.get(path)
            assert response.status_code == 401
            assert "WWW-Authenticate" in response.headers

    async def test_an_app_key_needs_the_read_scope(
        self, client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]]
    ) -> None:
        criticality_key = await make_app_key("criticality")
        read_key = await make_app_key("read")
        for path in (HISTORY, CONSUMERS):
            assert (await client.get(path, headers={"X-API-Key": criticality_key})).status_code == 403
            assert (await client.get(path, headers={"X-API-Key": read_key})).status_code == 200
