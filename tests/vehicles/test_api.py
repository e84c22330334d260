"""The detections API without Kafka: ``POST /detections`` through the table inbox, ``/detections``, ``/stats``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from tests.vehicles.conftest import CIVIC, F150, LAND_CRUISER, detection, post, stored, wait_stored


async def errors_of(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/v1/errors", params={"module": "vehicles"}, headers=headers)
    return list(response.json()["items"])


class TestIngest:
    async def test_one_detection_or_an_array_is_accepted_and_indexed(
        self, client: httpx.AsyncClient, ingest_headers: dict[str, str], engine: AsyncEngine
    ) -> None:
        one = await post(client, ingest_headers, LAND_CRUISER)
        many = await post(client, ingest_headers, [CIVIC, F150])

        assert (one.status_code, one.json()["accepted"]) == (202, 1)
        assert (many.status_code, many.json()["accepted"]) == (202, 2)
        await wait_stored(engine, 3)
        listed = (await client.get("/detections", headers=ingest_headers)).json()
        ids = {item["id"] for item in listed["items"]}
        assert ids == {*one.json()["ids"], *many.json()["ids"]}
        by_id = {item["id"]: item for item in listed["items"]}
        assert {k: by_id[one.json()["ids"][0]][k] for k in LAND_CRUISER} == LAND_CRUISER

    async def test_an_invalid_detection_refuses_the_request_naming_item_and_field(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        admin_headers: dict[str, str],
        engine: AsyncEngine,
    ) -> None:
        response = await post(client, ingest_headers, [CIVIC, detection(Year="soon"), detection(Model="X\x00")])

        assert response.status_code == 422
        problems = response.json()["error"]["details"]
        assert [(p["index"], p["field"]) for p in problems] == [(1, "Year"), (2, "Model")]
        assert "NUL" in problems[1]["reason"]
        errors = await errors_of(client, admin_headers)
        assert sorted((e["kind"], e["field"], e["app"]) for e in errors) == [
            ("malformed", "Model", "camera"),
            ("malformed", "Year", "camera"),
        ]
        assert await stored(engine) == 0

    @pytest.mark.parametrize(
        ("body", "status"),
        [(b"{'Year': 2011", 400), (b"[]", 422), (b"[" + b",".join([b'{"Year": 2011}'] * 1001) + b"]", 413)],
    )
    async def test_bodies_that_are_not_detections_get_a_4xx(
        self, client: httpx.AsyncClient, ingest_headers: dict[str, str], body: bytes, status: int
    ) -> None:
        response = await client.post(
            "/detections", content=body, headers={**ingest_headers, "Content-Type": "application/json"}
        )

        assert response.status_code == status
        assert response.json()["error"]["details"][0]["field"] == "body"

    async def test_posting_needs_the_ingest_scope(
        self, client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]]
    ) -> None:
        reader = {"X-API-Key": await make_app_key("read")}

        assert (await post(client, {}, CIVIC)).status_code == 401
        assert (await post(client, reader, CIVIC)).status_code == 403


class TestList:
    async def test_newest_first_with_the_total_and_skip_limit_pages(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        user_headers: dict[str, str],
        engine: AsyncEngine,
    ) -> None:
        first = (await post(client, ingest_headers, [detection(Year=2000 + i) for i in range(3)])).json()["ids"]
        await wait_stored(engine, 3)
        second = (await post(client, ingest_headers, [detection(Year=2010 + i) for i in range(2)])).json()["ids"]
        await wait_stored(engine, 5)

        page = (await client.get("/detections", params={"skip": 1, "limit": 3}, headers=user_headers)).json()

        assert (page["total"], page["skip"], page["limit"]) == (5, 1, 3)
        newest_first = [*reversed(second), *reversed(first)]
        assert [item["id"] for item in page["items"]] == newest_first[1:4]

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"skip": -1}, "skip"), ({"skip": 10**12}, "skip")],
    )
    async def test_negative_or_absurd_paging_is_a_422_naming_it(
        self, client: httpx.AsyncClient, user_headers: dict[str, str], params: dict[str, int], field: str
    ) -> None:
        response = await client.get("/detections", params=params, headers=user_headers)

        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == field

    async def test_reading_needs_a_signed_in_user_or_a_reading_app(
        self, client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]]
    ) -> None:
        ingest_only = {"X-API-Key": await make_app_key("ingest")}

        assert (await client.get("/detections")).status_code == 401
        assert (await client.get("/stats")).status_code == 401
        assert (await client.get("/detections", headers=ingest_only)).status_code == 403


class TestStats:
    async def test_counts_per_make_most_first(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        user_headers: dict[str, str],
        engine: AsyncEngine,
    ) -> None:
        makes = ["Toyota", "Ford", "Toyota", "Honda", "Toyota", "Ford", "Audi"]
        await post(client, ingest_headers, [detection(Make=make) for make in makes])
        await wait_stored(engine, len(makes))

        stats = (await client.get("/stats", headers=user_headers)).json()

        assert stats["total"] == 7
        assert stats["items"] == [
            {"Make": "Toyota", "count": 3},
            {"Make": "Ford", "count": 2},
            {"Make": "Audi", "count": 1},
            {"Make": "Honda", "count": 1},
        ]

    async def test_a_time_range_counts_what_was_indexed_in_it(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        user_headers: dict[str, str],
        engine: AsyncEngine,
    ) -> None:
        await post(client, ingest_headers, [detection(Make="Toyota"), detection(Make="Ford")])
        await wait_stored(engine, 2)
        between = datetime.now(UTC)
        await post(client, ingest_headers, [detection(Make="Ford"), detection(Make="Kia")])
        await wait_stored(engine, 4)

        later = (await client.get("/stats", params={"start": between.isoformat()}, headers=user_headers)).json()
        earlier = (await client.get("/stats", params={"end": between.isoformat()}, headers=user_headers)).json()

        assert later["items"] == [{"Make": "Ford", "count": 1}, {"Make": "Kia", "count": 1}]
        assert earlier["items"] == [{"Make": "Ford", "count": 1}, {"Make": "Toyota", "count": 1}]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, "end"),
            ({"start": "2024-01-01T00:00:00"}, "start"),
            ({"end": "yesterday"}, "end"),
        ],
    )
    async def test_a_bad_range_is_a_422_naming_it(
        self, client: httpx.AsyncClient, user_headers: dict[str, str], params: dict[str, str], field: str
    ) -> None:
        response = await client.get("/stats", params=params, headers=user_headers)

        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == field


class TestAlerts:
    async def test_each_suspicious_detection_raises_exactly_one_alert(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        admin_headers: dict[str, str],
        engine: AsyncEngine,
    ) -> None:
        ids = (await post(client, ingest_headers, [LAND_CRUISER, CIVIC, detection(Category="suv")])).json()["ids"]
        await wait_stored(engine, 3)

        alerts = (await client.get("/v1/alerts", params={"module": "vehicles"}, headers=admin_headers)).json()["items"]

        assert sorted(alert["event_ids"][0] for alert in alerts) == sorted([ids[0], ids[2]])
        assert {alert["rule"] for alert in alerts} == {"vehicles.suspicious"}


class TestSuspiciousVehicleSetting:
    @pytest.fixture
    def settings(self, make_settings: Callable[..., Settings]) -> Settings:
        return make_settings(suspicious_vehicle="Pickup, VAN")

    async def test_the_configured_categories_alert_and_others_do_not(
        self,
        client: httpx.AsyncClient,
        ingest_headers: dict[str, str],
        admin_headers: dict[str, str],
        engine: AsyncEngine,
    ) -> None:
        body = [LAND_CRUISER, F150, detection(Category="van")]
        ids = (await post(client, ingest_headers, body)).json()["ids"]
        await wait_stored(engine, 3)

        alerts = (await client.get("/v1/alerts", params={"module": "vehicles"}, headers=admin_headers)).json()["items"]

        assert sorted(alert["event_ids"][0] for alert in alerts) == sorted(ids[1:])


class TestOpenApi:
    async def test_the_detections_api_is_documented(self, client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()

        paths = document["paths"]
        assert {"get", "post"} <= set(paths["/detections"])
        assert {p["name"] for p in paths["/detections"]["get"]["parameters"]} == {"skip", "limit"}
        assert {p["name"] for p in paths["/stats"]["get"]["parameters"]} == {"start", "end"}
        assert "text/event-stream" in paths["/alerts"]["get"]["responses"]["200"]["content"]
        body = paths["/detections"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["oneOf"][0]["required"] == ["Year", "Make", "Model", "Category"]
