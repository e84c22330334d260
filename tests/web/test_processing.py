"""Processing accepted events: timestamps, payload schemas, unknown types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.config import Settings
from eventeye.web.tables import web_sessions
from tests.fixtures.waiting import eventually
from tests.lifespan import running
from tests.web.conftest import SESSION, pageview, post, stored_count


async def errors_of(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    return list((await client.get("/v1/errors", headers=headers)).json()["items"])


class TestTimestamps:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("2021-01-01 09:15:27.243860", "2021-01-01T09:15:27.243860Z"),
            ("2021-01-01T09:15:27Z", "2021-01-01T09:15:27Z"),
            ("2021-01-01T11:15:27+02:00", "2021-01-01T09:15:27Z"),
        ],
    )
    async def test_accepted_formats_are_stored_in_utc(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        drained: Callable[[], Awaitable[None]],
        given: str,
        expected: str,
    ) -> None:
        await post(client, ingest_headers, pageview(timestamp=given))
        await drained()
        items = (await client.get(f"/v1/sessions/{SESSION}/events", headers=ingest_headers)).json()["items"]
        stored = datetime.fromisoformat(items[0]["timestamp"])
        assert stored == datetime.fromisoformat(expected)
        assert stored.utcoffset() == timedelta(0)

    async def test_unparseable_timestamp_lands_in_errors(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        engine: AsyncEngine,
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        response = await post(client, ingest_headers, pageview(timestamp="yesterday-ish"))
        assert response.status_code == 202
        await drained()
        assert await stored_count(engine) == 0
        [error] = await errors_of(client, ingest_headers)
        assert (error["kind"], error["field"], error["event_id"]) == (
            "invalid_timestamp",
            "timestamp",
            response.json()["ids"][0],
        )

    async def test_future_timestamp_beyond_skew_lands_in_errors(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        engine: AsyncEngine,
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        await post(client, ingest_headers, [pageview(timestamp=soon), pageview(timestamp=later)])
        await drained()
        assert await stored_count(engine) == 1
        [error] = await errors_of(client, ingest_headers)
        assert error["kind"] == "future_timestamp"


class TestPayloadSchemas:
    @pytest.mark.parametrize(
        ("category", "name", "data", "field"),
        [
            ("page interaction", "pageview", {"host": "h"}, "data.path"),
            ("page interaction", "cta click", {"host": "h", "path": "/"}, "data.element"),
            ("form interaction", "submit", {"host": "h", "path": "/", "form": "x"}, "data.form"),
            ("page interaction", "pageview", {"host": 3, "path": "/"}, "data.host"),
        ],
    )
    async def test_payload_failing_its_schema_lands_in_errors(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        engine: AsyncEngine,
        drained: Callable[[], Awaitable[None]],
        category: str,
        name: str,
        data: dict[str, Any],
        field: str,
    ) -> None:
        await post(client, ingest_headers, pageview(category=category, name=name, data=data))
        await drained()
        assert await stored_count(engine) == 0
        [error] = await errors_of(client, ingest_headers)
        assert (error["kind"], error["field"], error["type"]) == ("invalid_payload", field, f"{category}/{name}")

    async def test_valid_payloads_of_each_builtin_type_are_stored(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        engine: AsyncEngine,
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        page = {"host": "www.consumeraffairs.com", "path": "/"}
        events = [
            pageview(),
            pageview(name="cta click", data={**page, "element": "chat bubble"}),
            pageview(category="form interaction", name="submit", data={**page, "form": {"first_name": "John"}}),
        ]
        await post(client, ingest_headers, events)
        await drained()
        assert await stored_count(engine) == 3
        assert await errors_of(client, ingest_headers) == []

    async def test_schema_replaced_through_the_admin_api_applies_at_once(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        admin_headers: dict[str, str],
        engine: AsyncEngine,
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        schema = {"type": "object", "required": ["host", "path", "referrer"]}
        put = await client.put("/v1/schemas/web/page interaction/pageview", json=schema, headers=admin_headers)
        assert put.status_code == 200
        await post(client, ingest_headers, pageview())
        await drained()
        [error] = await errors_of(client, ingest_headers)
        assert error["field"] == "data.referrer"
        removed = await client.delete("/v1/schemas/web/page interaction/pageview", headers=admin_headers)
        assert removed.status_code == 204
        await post(client, ingest_headers, pageview())
        await drained()
        assert await stored_count(engine) == 1

    async def test_invalid_schema_is_422(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        response = await client.put("/v1/schemas/web/x/y", json={"type": "no-such-type"}, headers=admin_headers)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "schema"

    async def test_schema_writes_need_admin(self, client: httpx.AsyncClient, ingest_headers: dict[str, str]) -> None:
        response = await client.put("/v1/schemas/web/x/y", json={"type": "object"}, headers=ingest_headers)
        assert response.status_code == 403


class TestUnknownTypes:
    async def test_unknown_type_is_stored_and_flagged(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        await post(client, ingest_headers, [pageview(), pageview(category="video", name="play", data={"t": 1})])
        await drained()
        stats = (await client.get("/v1/stats?group_by=type", headers=ingest_headers)).json()
        assert stats["unknown_types"] == 1
        assert {c["key"]: c["count"] for c in stats["counts"]} == {"page interaction/pageview": 1, "video/play": 1}

    async def test_strict_mode_rejects_unknown_types(
        self, make_settings: Callable[..., Settings], engine: AsyncEngine
    ) -> None:
        app = create_app(make_settings(strict_types=True), engine=engine)
        async with (
            running(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            await client.post("/users", json={"username": "root", "password": "password-123"})
            token = (await client.post("/login", data={"username": "root", "password": "password-123"})).json()
            admin = {"Authorization": f"Bearer {token['access_token']}"}
            key = (
                await client.post("/v1/apps", json={"name": "a", "scopes": ["ingest", "read"]}, headers=admin)
            ).json()
            headers = {"X-API-Key": key["key"]}
            await post(client, headers, pageview(category="video", name="play"))

            async def kinds() -> list[str]:
                return [e["kind"] for e in await errors_of(client, headers)]

            assert await eventually(kinds, bool) == ["unknown_type"]


class TestSessionProjection:
    async def test_a_session_keeps_its_first_and_last_instant_and_its_count(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        drained: Callable[[], Awaitable[None]],
        engine: AsyncEngine,
    ) -> None:
        batches = [
            ["2021-01-01 09:15:00", "2021-01-01 09:10:00"],
            ["2021-01-01 09:20:00", "2021-01-01 09:05:00", "2021-01-01 09:12:00"],
        ]
        for stamps in batches:
            assert (await post(client, ingest_headers, [pageview(timestamp=t) for t in stamps])).status_code == 202
            await drained()
        other = pageview(session_id="another", timestamp="2021-01-01 08:00:00")
        assert (await post(client, ingest_headers, other)).status_code == 202
        await drained()
        async with engine.connect() as conn:
            rows = await conn.execute(select(web_sessions).order_by(web_sessions.c.session_id))
            sessions = {row.session_id: (row.first_seen, row.last_seen, row.event_count) for row in rows}
        at = datetime(2021, 1, 1, tzinfo=UTC)
        assert sessions == {
            SESSION: (at.replace(hour=9, minute=5), at.replace(hour=9, minute=20), 5),
            "another": (at.replace(hour=8), at.replace(hour=8), 1),
        }
