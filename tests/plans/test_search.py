"""`GET /search`: the contract's envelope and formats, its bounds, every 400, the 500, and its cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.config import Settings
from eventeye.core.storage.engine import create_engine
from eventeye.plans import repository as plans_repository
from eventeye.plans.sync import Syncer
from tests.lifespan import running
from tests.plans.feeds import SAMPLE, base_event, event, feed
from tests.plans.provider import FakeProvider, Reply


@pytest.fixture
async def synced(syncer: Syncer, provider: FakeProvider) -> None:
    """The provider's sample, synced."""
    provider.serve(Reply(SAMPLE))
    run = await syncer.run(trigger="cli")
    assert run is not None
    assert run.outcome == "succeeded"


def titles(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [plan["title"] for plan in response.json()["data"]["events"]]


@pytest.mark.usefixtures("synced")
class TestResults:
    async def test_the_exact_envelope_and_formats(self, client: httpx.AsyncClient) -> None:
        response = await client.get(
            "/search", params={"starts_at": "2021-06-30T00:00:00Z", "ends_at": "2021-07-01T00:00:00Z"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["error"] is None
        [plan] = body["data"]["events"]
        assert plan.pop("id")
        assert plan == {
            "title": "Camela en concierto",
            "start_date": "2021-06-30",
            "start_time": "21:00:00",
            "end_date": "2021-06-30",
            "end_time": "22:00:00",
            "min_price": 15.0,
            "max_price": 30.0,
        }

    async def test_no_bounds_lists_every_online_plan_by_start(self, client: httpx.AsyncClient) -> None:
        assert titles(await client.get("/search")) == [
            "Pantomima Full",
            "Pantomima Full",
            "Camela en concierto",
            "Los Morancos",
        ]

    async def test_the_same_event_id_under_two_base_events_is_two_plans(self, client: httpx.AsyncClient) -> None:
        plans = (await client.get("/search")).json()["data"]["events"]
        assert len({plan["id"] for plan in plans}) == 4

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"starts_at": "2021-06-30T21:00:00Z"}, ["Camela en concierto", "Los Morancos"]),  # start bound inclusive
            ({"starts_at": "2021-06-30T21:00:01Z"}, ["Los Morancos"]),
            ({"ends_at": "2021-02-10T21:30:00Z"}, ["Pantomima Full"]),  # end bound inclusive
            ({"ends_at": "2021-02-10T21:29:59Z"}, []),
            ({"starts_at": "2021-06-30T20:30:00Z", "ends_at": "2021-06-30T21:30:00Z"}, []),  # must end inside too
            (
                {"starts_at": "2021-06-30T23:00:00+02:00", "ends_at": "2021-07-01T00:00:00+02:00"},
                ["Camela en concierto"],
            ),
            (
                {"starts_at": "2021-06-30T21:00:00", "ends_at": "2021-06-30T22:00:00"},
                ["Camela en concierto"],
            ),  # naive: UTC
            ({"starts_at": "2030-01-01T00:00:00Z"}, []),
            ({"unknown": "ignored"}, ["Pantomima Full", "Pantomima Full", "Camela en concierto", "Los Morancos"]),
        ],
    )
    async def test_bounds(self, client: httpx.AsyncClient, params: dict[str, str], expected: list[str]) -> None:
        assert titles(await client.get("/search", params=params)) == expected


class TestBadRequests:
    @pytest.mark.parametrize(
        ("query", "field", "reason"),
        [
            ("starts_at=yesterday", "starts_at", "RFC 3339"),
            ("ends_at=2021-06-30", "ends_at", "RFC 3339"),
            ("starts_at=2021-02-30T00:00:00Z", "starts_at", "not a valid date-time"),
            ("starts_at=2021-06-30T25:00:00Z", "starts_at", "not a valid date-time"),
            ("ends_at=2021-06-30T10:00:00%2B24:00", "ends_at", "not a valid date-time"),
            ("starts_at=1624980000", "starts_at", "RFC 3339"),
            ("starts_at=", "starts_at", "empty"),
            ("starts_at=2021-06-30T00:00:00Z&starts_at=2021-07-30T00:00:00Z", "starts_at", "more than once"),
            ("starts_at=2021-07-01T00:00:00Z&ends_at=2021-06-01T00:00:00Z", "starts_at", "after ends_at"),
            ("starts_at=2021-06-30T00:00:00Z%00", "starts_at", "RFC 3339"),
        ],
    )
    async def test_answers_400_naming_the_parameter(
        self, client: httpx.AsyncClient, query: str, field: str, reason: str
    ) -> None:
        response = await client.get(f"/search?{query}")
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["data"] is None
        assert body["error"]["code"] == "invalid_parameters"
        assert body["error"]["message"].startswith(f"{field}: ")
        assert reason in body["error"]["message"]
        assert [d["field"] for d in body["error"]["details"]] == [field]

    async def test_both_bad_parameters_are_named(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/search", params={"starts_at": "x", "ends_at": "y"})
        assert [d["field"] for d in response.json()["error"]["details"]] == ["starts_at", "ends_at"]

    async def test_other_methods_get_405_in_the_envelope(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/search", json={})
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
        assert response.json()["data"] is None
        assert response.json()["error"]["code"] == "method_not_allowed"


async def test_an_unexpected_failure_is_a_500_in_the_envelope(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'broken.db'}"
    application = create_app(make_settings(database_url=url))
    async with running(application):
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE plans_state"))  # the store is broken under the running app
        await engine.dispose()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as http:
            response = await http.get("/search")
    assert response.status_code == 500
    assert response.json() == {
        "data": None,
        "error": {"code": "internal", "message": "Internal server error", "details": []},
    }


class TestCache:
    async def test_a_sync_by_another_process_is_seen_by_the_next_search(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        make_syncer: Callable[..., Syncer],
        provider: FakeProvider,
        database_url: str,
    ) -> None:
        provider.queue(Reply(feed(base_event("1", "Old"))), Reply(feed(base_event("1", "New"))))
        worker_engine = create_engine(database_url)  # the worker: its own engine, only the database is shared
        worker = make_syncer(engine_=worker_engine)
        try:
            await worker.run(trigger="schedule")
            assert titles(await client.get("/search")) == ["Old"]
            assert titles(await client.get("/search")) == ["Old"]
            assert len(app.state.runtime.extensions["plans"].search.cache) == 1
            await worker.run(trigger="schedule")
            assert titles(await client.get("/search")) == ["New"]
        finally:
            await worker_engine.dispose()

    async def test_on_sqlite_the_sync_keeps_the_stamp_at_the_data_version(
        self, engine: AsyncEngine, backend: str, syncer: Syncer, provider: FakeProvider
    ) -> None:
        if backend != "sqlite":
            assert plans_repository.version_stamp(engine) is None  # shared databases: the version is read
            return
        stamp = plans_repository.version_stamp(engine)
        assert stamp is not None
        provider.queue(Reply(feed(base_event("1", "Old"))), Reply(feed(base_event("1", "New"))))
        for _ in range(2):
            await syncer.run(trigger="cli")
            async with engine.connect() as conn:
                assert stamp.read() == await plans_repository.get_data_version(conn) > 0

    async def test_a_stamp_ahead_of_the_data_answers_fresh_uncached_until_a_sync_repairs_it(
        self, client: httpx.AsyncClient, app: FastAPI, engine: AsyncEngine, backend: str, make_syncer: Any,
        provider: FakeProvider,
    ) -> None:  # fmt: skip
        if backend != "sqlite":
            pytest.skip("stamps are for SQLite files")
        provider.serve(Reply(feed(base_event("1", "Stored"))))
        syncer = make_syncer()
        await syncer.run(trigger="cli")
        stamp = plans_repository.version_stamp(engine)
        assert stamp is not None
        version = stamp.read()
        assert version is not None
        stamp.write(version + 1)  # as left by a sync stopped between writing it and its commit
        cache = app.state.runtime.extensions["plans"].search.cache
        cache.get("anything", 0)  # forget what this process kept
        for _ in range(2):
            assert titles(await client.get("/search")) == ["Stored"]
            assert len(cache) == 0  # read at the older version: answered, never kept
        await syncer.run(trigger="cli")  # nothing changed, and yet the stamp is back at the data's version
        assert stamp.read() == version
        assert titles(await client.get("/search")) == ["Stored"]
        assert len(cache) == 1

    async def test_equivalent_queries_share_one_entry(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        for starts_at in ("2021-06-30T21:00:00Z", "2021-06-30T23:00:00+02:00", "2021-06-30t21:00:00z"):
            assert (await client.get("/search", params={"starts_at": starts_at})).status_code == 200
        assert len(app.state.runtime.extensions["plans"].search.cache) == 1

    async def test_concurrent_searches_agree(
        self, client: httpx.AsyncClient, syncer: Syncer, provider: FakeProvider
    ) -> None:
        provider.serve(Reply(feed(*(base_event(str(i), f"Plan {i}", event(str(i))) for i in range(50)))))
        await syncer.run(trigger="cli")
        responses = await asyncio.gather(*(client.get("/search") for _ in range(30)))
        assert {r.content for r in responses} == {responses[0].content}
        assert len(responses[0].json()["data"]["events"]) == 50


@pytest.fixture
async def app_syncing_a_stalled_provider(
    make_settings: Callable[..., Settings], engine: AsyncEngine, provider: FakeProvider
) -> AsyncIterator[httpx.AsyncClient]:
    provider.queue(Reply(feed(base_event("1", "Stored"))))
    provider.serve(Reply(SAMPLE, delay=5))
    settings: dict[str, Any] = {
        "plans_provider_url": provider.url,
        "plans_provider_timeout": 10,
        "plans_sync_interval": 0.05,
        "modules": ("plans",),
    }
    application = create_app(make_settings(**settings), engine=engine)
    async with (
        running(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as http,
    ):
        yield http


async def test_search_answers_from_the_store_while_the_provider_stalls(
    app_syncing_a_stalled_provider: httpx.AsyncClient, provider: FakeProvider
) -> None:
    for _ in range(100):  # the background sync stores the first feed, then waits on the stalled provider
        if provider.requests >= 2:
            break
        await asyncio.sleep(0.05)
    assert provider.requests == 2
    assert titles(await app_syncing_a_stalled_provider.get("/search")) == ["Stored"]
    assert provider.requests == 2  # search never calls the provider


async def test_the_openapi_document_describes_search(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    operation = paths["/search"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in operation["parameters"]] == [
        ("starts_at", "query", False),
        ("ends_at", "query", False),
    ]
    assert {"200", "400", "500"} <= set(operation["responses"])
    assert set(paths["/search"]) == {"get"}


def metric(text: str, name: str) -> float:
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")), 0.0)


@pytest.mark.usefixtures("synced")
async def test_cache_results_and_version_reads_are_counted_in_metrics(client: httpx.AsyncClient) -> None:
    hits, misses, reads = (
        'eventeye_plans_search_cache_total{result="hit"}',
        'eventeye_plans_search_cache_total{result="miss"}',
        "eventeye_plans_version_reads_total",
    )
    before = (await client.get("/metrics")).text
    for _ in range(3):
        assert (await client.get("/search", params={"ends_at": "2021-03-01T00:00:00Z"})).status_code == 200
    after = (await client.get("/metrics")).text
    assert metric(after, hits) - metric(before, hits) == 2
    assert metric(after, misses) - metric(before, misses) == 1
    assert metric(after, reads) - metric(before, reads) == 3  # one fresh read per request when they come one by one
