"""Accepting events: shapes, identity, structural rejections and limits."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.web.conftest import pageview, post, stored_count


class TestAccept:
    async def test_one_event_is_accepted_with_a_time_ordered_id(
        self, client: httpx.AsyncClient, ingest_headers: dict[str, str]
    ) -> None:
        response = await post(client, ingest_headers, pageview())
        assert response.status_code == 202
        body = response.json()
        assert body["accepted"] == 1
        assert uuid.UUID(body["ids"][0]).version == 7

    async def test_array_is_accepted_in_order(self, client: httpx.AsyncClient, ingest_headers: dict[str, str]) -> None:
        events = [pageview(timestamp=f"2021-01-01 09:15:{second:02d}") for second in range(10)]
        response = await post(client, ingest_headers, events)
        assert response.status_code == 202
        ids = [uuid.UUID(i) for i in response.json()["ids"]]
        assert len(ids) == 10
        assert ids == sorted(ids)

    async def test_ndjson_is_accepted(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        engine: AsyncEngine,
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        body = b"\n".join(orjson.dumps(pageview(session_id=f"s{i}")) for i in range(5)) + b"\n"
        headers = {**ingest_headers, "Content-Type": "application/x-ndjson"}
        response = await client.post("/v1/events", content=body, headers=headers)
        assert response.status_code == 202
        assert response.json()["accepted"] == 5
        await drained()
        assert await stored_count(engine) == 5


class TestIdentity:
    async def test_resending_a_client_id_never_duplicates(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        engine: AsyncEngine,
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        event_id = str(uuid.uuid4())
        event = pageview(id=event_id)
        first = await post(client, ingest_headers, event)
        second = await post(client, ingest_headers, [event, event])
        assert first.json()["ids"] == [event_id]
        assert second.json()["ids"] == [event_id, event_id]
        await drained()
        assert await stored_count(engine) == 1
        session = await client.get("/v1/sessions/e2085be5-9137-4e4e-80b5-f1ffddc25423/events", headers=ingest_headers)
        assert [item["id"] for item in session.json()["items"]] == [event_id]


class TestStructuralRejection:
    async def test_not_json_is_400_and_recorded(
        self, client: httpx.AsyncClient, ingest_headers: dict[str, str]
    ) -> None:
        response = await client.post(
            "/v1/events", content=b"{not json", headers={**ingest_headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["details"][0]["field"] == "body"
        errors = (await client.get("/v1/errors", headers=ingest_headers)).json()["items"]
        assert [(e["kind"], e["app"], e["raw"]) for e in errors] == [("malformed", "shop", "{not json")]

    async def test_missing_fields_are_422_per_item_and_nothing_is_accepted(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        engine: AsyncEngine,
        drained: Callable[[], Awaitable[None]],
    ) -> None:
        good = pageview()
        no_session = {k: v for k, v in pageview().items() if k != "session_id"}
        wrong_type = pageview(category=5)
        response = await post(client, ingest_headers, [good, no_session, wrong_type])
        assert response.status_code == 422
        details = response.json()["error"]["details"]
        assert {(d["index"], d["field"]) for d in details} == {(1, "session_id"), (2, "category")}
        await drained()
        assert await stored_count(engine) == 0
        errors = (await client.get("/v1/errors?kind=malformed", headers=ingest_headers)).json()["items"]
        assert sorted(e["field"] for e in errors) == ["category", "session_id"]

    async def test_empty_array_is_422(self, client: httpx.AsyncClient, ingest_headers: dict[str, str]) -> None:
        response = await post(client, ingest_headers, [])
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "body"


class TestLimits:
    async def test_too_many_events_is_413(
        self, client: httpx.AsyncClient, ingest_headers: dict[str, str], engine: AsyncEngine
    ) -> None:
        response = await post(client, ingest_headers, [pageview()] * 1001)
        assert response.status_code == 413
        assert "1001" in response.json()["error"]["details"][0]["reason"]

    async def test_body_over_the_byte_limit_is_413(
        self, client: httpx.AsyncClient, ingest_headers: dict[str, str]
    ) -> None:
        huge = pageview(data={"host": "h", "path": "/", "blob": "x" * (6 * 1024 * 1024)})
        response = await post(client, ingest_headers, huge)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"


class TestAccess:
    async def test_anonymous_is_401(self, client: httpx.AsyncClient) -> None:
        response = await post(client, {}, pageview())
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_a_bearer_token_is_read_as_the_other_routes_read_it(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        assert (await post(client, admin_headers, pageview())).status_code == 202  # the admin holds every scope
        token = admin_headers["Authorization"].removeprefix("Bearer ")
        assert (await post(client, {"Authorization": f"bearer {token}"}, pageview())).status_code == 202
        for header in (f"Basic {token}", "Bearer", f"Bearer {token}x"):
            assert (await post(client, {"Authorization": header}, pageview())).status_code == 401, header

    async def test_key_without_ingest_scope_is_403(
        self, client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]]
    ) -> None:
        key = await make_app_key("read")
        response = await post(client, {"X-API-Key": key}, pageview())
        assert response.status_code == 403
