"""``POST /v1/activity/detections`` and ``GET /v1/activity/periods`` over HTTP (ASGI, lifespan running)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.activity import service as activity_service
from eventeye.activity.schemas import TYPES, DetectionIn
from eventeye.activity.tables import activity_detections
from eventeye.config import Settings

MakeKey = Callable[..., Awaitable[str]]
CARS = ["18:30:30", "18:31:00", "18:31:30", "18:35:00", "18:35:30", "18:36:00", "18:37:30", "18:38:00"]


def car(clock: str, **extra: Any) -> dict[str, Any]:
    return {"time": f"2024-05-01T{clock}Z", "type": "car", **extra}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def stored_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(activity_detections))).scalar_one())


async def wait_stored(engine: AsyncEngine, count: int) -> None:
    """Until the processor has stored ``count`` detections (bounded: 5 s)."""
    for _ in range(250):
        if await stored_count(engine) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {await stored_count(engine)} of {count} detections were stored")


async def errors(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/v1/errors", params={"module": "activity"}, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@pytest.fixture
async def headers(make_app_key: MakeKey) -> dict[str, str]:
    return bearer(await make_app_key("ingest", "read"))


class TestIngest:
    async def test_the_mission_example_becomes_three_periods(
        self, client: httpx.AsyncClient, engine: AsyncEngine, headers: dict[str, str]
    ) -> None:
        response = await client.post("/v1/activity/detections", json=[car(c) for c in CARS], headers=headers)
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == len(CARS)
        await wait_stored(engine, len(CARS))
        periods = await client.get("/v1/activity/periods", headers=headers)
        assert periods.status_code == 200, periods.text
        assert periods.json() == {
            "people": [],
            "vehicles": [
                ["2024-05-01T18:30:30+00:00", "2024-05-01T18:31:30+00:00"],
                ["2024-05-01T18:35:00+00:00", "2024-05-01T18:36:00+00:00"],
                ["2024-05-01T18:37:30+00:00", "2024-05-01T18:38:00+00:00"],
            ],
        }

    async def test_one_object_and_ndjson_are_accepted(
        self, client: httpx.AsyncClient, engine: AsyncEngine, headers: dict[str, str]
    ) -> None:
        one = await client.post("/v1/activity/detections", json=car("18:30:30", camera_id="gate"), headers=headers)
        assert one.status_code == 202, one.text
        lines = b"\n".join(orjson.dumps(car(c, camera_id="gate")) for c in ("18:31:00", "18:33:00")) + b"\n"
        ndjson = await client.post(
            "/v1/activity/detections", content=lines, headers={**headers, "Content-Type": "application/x-ndjson"}
        )
        assert ndjson.status_code == 202, ndjson.text
        assert ndjson.json()["accepted"] == 2
        await wait_stored(engine, 3)
        gate = (await client.get("/v1/activity/periods", params={"camera_id": "gate"}, headers=headers)).json()
        assert gate["vehicles"] == [
            ["2024-05-01T18:30:30+00:00", "2024-05-01T18:31:00+00:00"],
            ["2024-05-01T18:33:00+00:00", "2024-05-01T18:33:00+00:00"],
        ]
        default = (await client.get("/v1/activity/periods", headers=headers)).json()
        assert default == {"people": [], "vehicles": []}

    async def test_resending_an_id_stores_it_once(
        self, client: httpx.AsyncClient, engine: AsyncEngine, headers: dict[str, str]
    ) -> None:
        detection = car("18:30:30", id="0190a1f2-7c3e-7b4d-9a1e-2f3b4c5d6e7f")
        for _ in range(2):
            assert (await client.post("/v1/activity/detections", json=detection, headers=headers)).status_code == 202
        other = await client.post("/v1/activity/detections", json=car("18:40:00"), headers=headers)
        assert other.status_code == 202
        await wait_stored(engine, 2)
        await asyncio.sleep(0.1)
        assert await stored_count(engine) == 2


class TestIngestRefusals:
    async def test_a_bad_item_refuses_the_request_naming_field_and_reason(
        self, client: httpx.AsyncClient, engine: AsyncEngine, headers: dict[str, str]
    ) -> None:
        body = [car("18:30:30"), {"time": "2024-05-01T18:31:00Z", "type": "bus"}, {"time": "yesterday", "type": "van"}]
        response = await client.post("/v1/activity/detections", json=body, headers=headers)
        assert response.status_code == 422, response.text
        details = response.json()["error"]["details"]
        assert [(d["index"], d["field"]) for d in details] == [(1, "type"), (2, "time")]
        assert "'bus' is not one of pedestrian" in details[0]["reason"]
        recorded = await errors(client, headers)
        assert sorted(e["kind"] for e in recorded) == ["invalid_timestamp", "unknown_type"]
        await asyncio.sleep(0.1)
        assert await stored_count(engine) == 0

    @pytest.mark.parametrize(
        ("item", "field", "reason"),
        [
            ({"type": "car"}, "time", "is required"),
            ({"time": "2024-05-01T18:30:30Z"}, "type", "is required"),
            ({"time": "2024-05-01T18:30:30Z", "type": "car", "camera": "x"}, "camera", "is not a field"),
            ({"time": "2024-05-01T18:30:30Z", "type": "car", "camera_id": ""}, "camera_id", "1 to 100 characters"),
            ({"time": "2024-05-01T18:30:30Z", "type": "car", "id": "nope"}, "id", "must be a UUID"),
            ({"time": "2999-01-01T00:00:00Z", "type": "car"}, "time", "in the future"),
            ({"time": 1714588230, "type": "car"}, "time", "not an ISO 8601 time"),
            ("car", "$", "must be a JSON object"),
        ],
    )
    async def test_each_problem_is_named(
        self, client: httpx.AsyncClient, headers: dict[str, str], item: Any, field: str, reason: str
    ) -> None:
        response = await client.post("/v1/activity/detections", json=[item], headers=headers)
        assert response.status_code == 422, response.text
        [detail] = response.json()["error"]["details"]
        assert detail["field"] == field
        assert reason in detail["reason"]

    async def test_invalid_json_is_a_400_and_recorded(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        response = await client.post(
            "/v1/activity/detections", content=b"{not json", headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"][0]["field"] == "body"
        assert [e["kind"] for e in await errors(client, headers)] == ["malformed"]

    async def test_an_empty_array_is_refused(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        response = await client.post("/v1/activity/detections", json=[], headers=headers)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "body"


class TestLimits:
    @pytest.fixture
    def settings(self, make_settings: Callable[..., Settings]) -> Settings:
        return make_settings(max_events_per_request=3, max_request_bytes=4096)

    async def test_too_many_detections_is_a_413(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        response = await client.post("/v1/activity/detections", json=[car(c) for c in CARS[:4]], headers=headers)
        assert response.status_code == 413, response.text
        assert "the limit is 3" in response.json()["error"]["details"][0]["reason"]

    async def test_a_body_over_the_byte_limit_is_a_413(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.post(
            "/v1/activity/detections", json=[car("18:30:30", camera_id="x" * 5000)], headers=headers
        )
        assert response.status_code == 413, response.text


class TestAccess:
    async def test_ingest_needs_a_credential_with_ingest(
        self, client: httpx.AsyncClient, make_app_key: MakeKey
    ) -> None:
        anonymous = await client.post("/v1/activity/detections", json=car("18:30:30"))
        assert anonymous.status_code == 401
        reader = bearer(await make_app_key("read"))
        assert (await client.post("/v1/activity/detections", json=car("18:30:30"), headers=reader)).status_code == 403

    async def test_periods_need_read(self, client: httpx.AsyncClient, make_app_key: MakeKey) -> None:
        assert (await client.get("/v1/activity/periods")).status_code == 401
        ingest_only = bearer(await make_app_key("ingest"))
        assert (await client.get("/v1/activity/periods", headers=ingest_only)).status_code == 403


class TestPeriodsQuery:
    @pytest.mark.parametrize(
        ("params", "field"),
        [({"gap_seconds": "0"}, "gap_seconds"), ({"start": "soon"}, "start"), ({"camera_id": ""}, "camera_id")],
    )
    async def test_bad_parameters_are_named(
        self, client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str], field: str
    ) -> None:
        response = await client.get("/v1/activity/periods", params=params, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == field

    async def test_range_camera_and_gap_apply(
        self, client: httpx.AsyncClient, engine: AsyncEngine, headers: dict[str, str]
    ) -> None:
        body = [car(c, camera_id="lot") for c in CARS] + [
            {"time": "2024-05-01T18:31:10Z", "type": "bicycle", "camera_id": "lot"}
        ]
        assert (await client.post("/v1/activity/detections", json=body, headers=headers)).status_code == 202
        await wait_stored(engine, len(body))
        params = {
            "camera_id": "lot",
            "start": "2024-05-01T18:31:00Z",
            "end": "2024-05-01T18:40:00Z",
            "gap_seconds": "100",
        }
        found = (await client.get("/v1/activity/periods", params=params, headers=headers)).json()
        assert found == {
            "people": [["2024-05-01T18:31:10+00:00", "2024-05-01T18:31:10+00:00"]],
            "vehicles": [
                ["2024-05-01T18:31:00+00:00", "2024-05-01T18:31:30+00:00"],
                ["2024-05-01T18:35:00+00:00", "2024-05-01T18:38:00+00:00"],
            ],
        }


class TestDocumentation:
    def test_the_documented_body_is_the_checked_one(self) -> None:
        assert set(DetectionIn.model_fields) == activity_service.FIELDS
        assert DetectionIn.model_json_schema()["properties"]["type"]["enum"] == list(TYPES)
        assert not DetectionIn.model_json_schema().get("$defs")  # inlined in the OpenAPI body: no references
