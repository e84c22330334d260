"""`GET /v1/plans/syncs`: who may list sync runs, and what they show."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from eventeye.plans.sync import Syncer
from tests.plans.feeds import SAMPLE
from tests.plans.provider import FakeProvider, Reply


async def test_needs_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/plans/syncs")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_needs_the_read_scope(client: httpx.AsyncClient, make_app_key: Callable[..., Awaitable[str]]) -> None:
    ingest_only = await make_app_key("ingest")
    assert (await client.get("/v1/plans/syncs", headers={"X-API-Key": ingest_only})).status_code == 403
    reader = await make_app_key("read")
    assert (await client.get("/v1/plans/syncs", headers={"X-API-Key": reader})).status_code == 200


async def test_lists_runs_latest_first_with_counts_and_issues(
    client: httpx.AsyncClient, admin_headers: dict[str, str], syncer: Syncer, provider: FakeProvider
) -> None:
    provider.queue(Reply(SAMPLE), Reply(b"not xml"))
    first = await syncer.run(trigger="schedule")
    second = await syncer.run(trigger="cli")
    assert first is not None
    assert second is not None

    response = await client.get("/v1/plans/syncs", headers=admin_headers)

    assert response.status_code == 200
    runs = response.json()["runs"]
    assert [run["id"] for run in runs] == [str(second.id), str(first.id)]
    latest, earlier = runs
    assert (latest["outcome"], latest["trigger"]) == ("failed", "cli")
    assert "well-formed" in latest["error"]
    assert {k: earlier[k] for k in ("outcome", "new", "updated", "unchanged", "invalid", "offline", "feed_bytes")} == {
        "outcome": "succeeded",
        "new": 4,
        "updated": 0,
        "unchanged": 0,
        "invalid": 1,
        "offline": 0,
        "feed_bytes": len(SAMPLE),
    }
    assert earlier["issues"] == [
        {
            "line": 27,
            "element": "event",
            "base_event_id": "444",
            "event_id": "1642",
            "reason": "event_start_date: '2021-09-31T20:00:00' is not a valid date-time "
            "(day is out of range for month)",
        }
    ]
    assert earlier["finished_at"] >= earlier["started_at"]


async def test_pages_with_limit_and_offset(
    client: httpx.AsyncClient, admin_headers: dict[str, str], syncer: Syncer, provider: FakeProvider
) -> None:
    provider.serve(Reply(SAMPLE))
    ids = [str((await syncer.run(trigger="cli")).id) for _ in range(3)]  # type: ignore[union-attr]
    page = await client.get("/v1/plans/syncs", params={"limit": 2, "offset": 1}, headers=admin_headers)
    assert [run["id"] for run in page.json()["runs"]] == ids[::-1][1:3]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "many"}])
async def test_bad_paging_is_a_422_naming_the_field(
    client: httpx.AsyncClient, admin_headers: dict[str, str], params: dict[str, object]
) -> None:
    response = await client.get("/v1/plans/syncs", params=params, headers=admin_headers)
    assert response.status_code == 422
    assert "data" not in response.json()  # the /v1 error shape, not the /search envelope
    assert [d["field"] for d in response.json()["error"]["details"]] == list(params)
