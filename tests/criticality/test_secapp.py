"""``/secapp/update``: the original scenarios, ordering by Change_at, exactly-once under concurrency."""

from __future__ import annotations

import asyncio

import httpx

from tests.criticality.conftest import poll, post_change


class TestOriginalScenarios:
    async def test_post_returns_increasing_processed_ids(self, client: httpx.AsyncClient) -> None:
        first = await post_change(client, "producer", 5, "2017-07-21T17:32:28Z")
        second = await post_change(client, "producer", 3, "2017-07-21T17:32:29Z")
        assert first >= 1
        assert second > first

    async def test_another_apps_first_get_returns_the_state(self, client: httpx.AsyncClient) -> None:
        processed_id = await post_change(client, "producer", 5, "2017-07-21T17:32:28Z")
        assert await poll(client, "consumer") == {
            "current_status": 5,
            "status_change_id": processed_id,
            "Change_at": "2017-07-21T17:32:28Z",
        }

    async def test_same_apps_next_get_is_empty(self, client: httpx.AsyncClient) -> None:
        await post_change(client, "producer", 5, "2017-07-21T17:32:28Z")
        assert await poll(client, "consumer") != {}
        assert await poll(client, "consumer") == {}
        assert await poll(client, "consumer") == {}


class TestLatestState:
    async def test_no_state_yet_is_empty_then_the_first_state_arrives(self, client: httpx.AsyncClient) -> None:
        assert await poll(client, "early") == {}
        processed_id = await post_change(client, "producer", 2, "2020-01-01T00:00:00Z")
        assert (await poll(client, "early"))["status_change_id"] == processed_id
        assert await poll(client, "early") == {}

    async def test_a_newer_change_notifies_again(self, client: httpx.AsyncClient) -> None:
        await post_change(client, "producer", 2, "2020-01-01T00:00:00Z")
        await poll(client, "consumer")
        newer = await post_change(client, "producer", 4, "2020-01-01T00:05:00Z")
        assert await poll(client, "consumer") == {
            "current_status": 4,
            "status_change_id": newer,
            "Change_at": "2020-01-01T00:05:00Z",
        }

    async def test_a_late_older_change_is_stored_but_never_notified(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        newest = await post_change(client, "producer", 4, "2020-01-01T12:00:00Z")
        assert (await poll(client, "seen")).get("status_change_id") == newest
        late = await post_change(client, "producer", 1, "2020-01-01T11:00:00Z")
        assert late > newest
        assert await poll(client, "seen") == {}
        # A consumer that never polled still gets the newest Change_at, not the last received.
        assert await poll(client, "fresh") == {
            "current_status": 4,
            "status_change_id": newest,
            "Change_at": "2020-01-01T12:00:00Z",
        }
        history = await client.get("/v1/criticality/history", headers=admin_headers)
        assert [item["processed_id"] for item in history.json()["items"]] == [late, newest]

    async def test_equal_change_at_is_won_by_the_later_processed_id(self, client: httpx.AsyncClient) -> None:
        first = await post_change(client, "producer", 3, "2017-07-21T17:32:28Z")
        assert (await poll(client, "early"))["status_change_id"] == first
        second = await post_change(client, "producer", 5, "2017-07-21T17:32:28Z")
        for app_name in ("early", "late"):
            state = await poll(client, app_name)
            assert state == {"current_status": 5, "status_change_id": second, "Change_at": "2017-07-21T17:32:28Z"}

    async def test_offsets_are_normalised_and_sub_seconds_still_order(self, client: httpx.AsyncClient) -> None:
        later = await post_change(client, "producer", 2, "2017-07-21T19:32:28.900+02:00")
        await post_change(client, "producer", 1, "2017-07-21T17:32:28.100Z")
        assert await poll(client, "consumer") == {
            "current_status": 2,
            "status_change_id": later,
            "Change_at": "2017-07-21T17:32:28Z",
        }


class TestExactlyOnce:
    async def test_100_concurrent_gets_from_one_app_yield_one_state(self, client: httpx.AsyncClient) -> None:
        processed_id = await post_change(client, "producer", 5, "2021-05-05T05:05:05Z")
        answers = await asyncio.gather(*(poll(client, "busy") for _ in range(100)))
        non_empty = [answer for answer in answers if answer]
        assert len(non_empty) == 1
        assert non_empty[0]["status_change_id"] == processed_id
        assert answers.count({}) == 99

    async def test_concurrent_gets_of_several_apps_each_get_the_state_once(self, client: httpx.AsyncClient) -> None:
        await post_change(client, "producer", 5, "2021-05-05T05:05:05Z")
        apps = [f"consumer-{n}" for n in range(5)]
        answers = await asyncio.gather(*(poll(client, app_name) for app_name in apps for _ in range(20)))
        told = [
            app_name for app_name, answer in zip([a for a in apps for _ in range(20)], answers, strict=True) if answer
        ]
        assert sorted(told) == apps
