"""Querying stored events: by session, category, name, time; keyset pages; stats."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.web.conftest import pageview, post


async def all_pages(client: httpx.AsyncClient, headers: dict[str, str], url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        separator = "&" if "?" in url else "?"
        page = await client.get(f"{url}{separator}cursor={cursor}" if cursor else url, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


@pytest.fixture
async def stored(
    client: httpx.AsyncClient, ingest_headers: dict[str, str], drained: Callable[[], Awaitable[None]]
) -> list[dict[str, Any]]:
    events = [
        pageview(session_id="a", timestamp="2021-01-01 09:00:03"),
        pageview(session_id="a", timestamp="2021-01-01 09:00:01"),
        pageview(
            session_id="b",
            timestamp="2021-01-01 10:00:00",
            name="cta click",
            data={"host": "h", "path": "/", "element": "e"},
        ),
        pageview(
            session_id="a",
            timestamp="2021-01-01 09:00:02",
            category="form interaction",
            name="submit",
            data={"host": "h", "path": "/", "form": {}},
        ),
        pageview(session_id="c", timestamp="2021-01-02 00:00:00"),
    ]
    assert (await post(client, ingest_headers, events)).status_code == 202
    await drained()
    return events


class TestSessionEvents:
    async def test_in_the_order_they_occurred(
        self, client: httpx.AsyncClient, ingest_headers: dict[str, str], stored: list[dict[str, Any]]
    ) -> None:
        items = (await client.get("/v1/sessions/a/events", headers=ingest_headers)).json()["items"]
        assert [i["timestamp"][:19] for i in items] == [
            "2021-01-01T09:00:01",
            "2021-01-01T09:00:02",
            "2021-01-01T09:00:03",
        ]

    async def test_ties_are_broken_by_arrival(
        self, client: httpx.AsyncClient, ingest_headers: dict[str, str], drained: Callable[[], Awaitable[None]]
    ) -> None:
        same = "2021-01-01 09:00:00"
        ids = []
        for _ in range(3):
            ids += (await post(client, ingest_headers, pageview(session_id="t", timestamp=same))).json()["ids"]
        await drained()
        items = (await client.get("/v1/sessions/t/events", headers=ingest_headers)).json()["items"]
        assert [i["id"] for i in items] == ids


class TestListEvents:
    @pytest.mark.parametrize(
        ("query", "sessions"),
        [
            ("category=page interaction", ["c", "b", "a", "a"]),
            ("category=page interaction&name=pageview", ["c", "a", "a"]),
            ("start=2021-01-01T09:00:02Z&end=2021-01-01T10:00:00Z", ["a", "a"]),
            ("session_id=b", ["b"]),
            ("app=shop&category=form interaction", ["a"]),
        ],
    )
    async def test_filters(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        stored: list[dict[str, Any]],
        query: str,
        sessions: list[str],
    ) -> None:
        items = (await client.get(f"/v1/events?{query}", headers=ingest_headers)).json()["items"]
        assert [i["session_id"] for i in items] == sessions

    async def test_ascending_order(
        self, client: httpx.AsyncClient, ingest_headers: dict[str, str], stored: list[dict[str, Any]]
    ) -> None:
        items = (await client.get("/v1/events?order=asc", headers=ingest_headers)).json()["items"]
        stamps = [i["timestamp"] for i in items]
        assert stamps == sorted(stamps)

    async def test_invalid_cursor_is_422(self, client: httpx.AsyncClient, ingest_headers: dict[str, str]) -> None:
        response = await client.get("/v1/events?cursor=garbage!", headers=ingest_headers)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "cursor"

    async def test_limit_out_of_range_is_422(self, client: httpx.AsyncClient, ingest_headers: dict[str, str]) -> None:
        response = await client.get("/v1/events?limit=0", headers=ingest_headers)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "limit"

    async def test_read_needs_the_read_scope(
        self, client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]]
    ) -> None:
        key = await make_app_key("ingest")
        assert (await client.get("/v1/events", headers={"X-API-Key": key})).status_code == 403


class TestPagination:
    @pytest.mark.parametrize("order", ["asc", "desc"])
    async def test_pages_neither_skip_nor_repeat_under_concurrent_inserts(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        drained: Callable[[], Awaitable[None]],
        order: str,
    ) -> None:
        first = [pageview(session_id="p", timestamp=f"2021-01-01 09:{i // 60:02d}:{i % 60:02d}") for i in range(120)]
        await post(client, ingest_headers, first)
        await drained()

        async def insert_more() -> None:
            for n in range(10):
                more = [pageview(session_id="p", timestamp=f"2021-01-02 00:00:{n:02d}.{k:06d}") for k in range(10)]
                await post(client, ingest_headers, more)
                await asyncio.sleep(0.005)

        writer = asyncio.create_task(insert_more())
        seen = await all_pages(client, ingest_headers, f"/v1/events?session_id=p&order={order}&limit=7")
        await writer
        ids = [i["id"] for i in seen]
        assert len(ids) == len(set(ids)), "a page repeated an event"
        stamps = [i["timestamp"] for i in seen]
        assert stamps == sorted(stamps, reverse=order == "desc")
        originals = {e["timestamp"] for e in first}
        seen_originals = {
            i["timestamp"][:19].replace("T", " ") for i in seen if i["timestamp"].startswith("2021-01-01")
        }
        assert seen_originals == originals, "a page skipped an event that existed before paging began"


class TestStats:
    @pytest.mark.parametrize(
        ("group_by", "expected"),
        [
            ("category", {"page interaction": 4, "form interaction": 1}),
            ("name", {"pageview": 3, "cta click": 1, "submit": 1}),
            ("app", {"shop": 5}),
            ("type", {"page interaction/pageview": 3, "page interaction/cta click": 1, "form interaction/submit": 1}),
        ],
    )
    async def test_counts_by_group(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        stored: list[dict[str, Any]],
        group_by: str,
        expected: dict[str, int],
    ) -> None:
        stats = (await client.get(f"/v1/stats?group_by={group_by}", headers=ingest_headers)).json()
        assert {c["key"]: c["count"] for c in stats["counts"]} == expected
        assert stats["total"] == 5
        counts = [c["count"] for c in stats["counts"]]
        assert counts == sorted(counts, reverse=True)

    async def test_time_range_and_error_counts(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        stored: list[dict[str, Any]],
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        await post(client, ingest_headers, pageview(timestamp="not a time"))
        await drained()
        stats = (
            await client.get("/v1/stats?start=2021-01-01T09:30:00Z&end=2021-01-03T00:00:00Z", headers=ingest_headers)
        ).json()
        assert stats["total"] == 2
        assert stats["errors"] == {}, "errors count by when they were recorded, which is now"
        everything = (await client.get("/v1/stats", headers=ingest_headers)).json()
        assert everything["errors"] == {"invalid_timestamp": 1}

    async def test_unknown_group_by_is_422(self, client: httpx.AsyncClient, ingest_headers: dict[str, str]) -> None:
        response = await client.get("/v1/stats?group_by=color", headers=ingest_headers)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "group_by"
