"""Events sent through the client are stored exactly once by a real eventeye, sync and async."""

from __future__ import annotations

import uuid

from eventeye.client import AsyncEventEyeClient, DeliveryFailure, EventEyeClient
from tests.client.conftest import Eventeye, new_session, pageview


def _ids(items: list[dict[str, object]]) -> list[str]:
    return [str(item["id"]) for item in items]


class TestSyncClient:
    def test_every_event_is_stored_once_in_order(self, eventeye: Eventeye) -> None:
        session = new_session()
        with EventEyeClient(eventeye.url, eventeye.ingest_key, batch_size=100, flush_interval=60) as client:
            sent = [client.send(pageview(session, i)) for i in range(250)]
        stored = eventeye.wait_stored(session, len(sent))
        assert _ids(stored) == [str(i) for i in sent]
        assert [item["data"]["path"] for item in stored] == [f"/page/{i}" for i in range(250)]
        assert client.stats.sent == 250
        assert client.stats.requests == 3

    def test_track_builds_the_event_with_an_id_and_now_as_timestamp(self, eventeye: Eventeye) -> None:
        session = new_session()
        with EventEyeClient(eventeye.url, eventeye.ingest_key) as client:
            event_id = client.track(session, "form interaction", "submit", {"host": "h", "path": "/", "form": {}})
        [stored] = eventeye.wait_stored(session, 1)
        assert stored["id"] == str(event_id)
        assert uuid.UUID(stored["id"]).version == 7
        assert (stored["category"], stored["name"]) == ("form interaction", "submit")

    def test_an_id_sent_twice_is_stored_once(self, eventeye: Eventeye) -> None:
        session = new_session()
        event = {**pageview(session, 1), "id": str(uuid.uuid4())}
        with EventEyeClient(eventeye.url, eventeye.ingest_key) as client:
            client.send(event)
            client.flush()
            client.send(event)
            client.flush()
            marker = client.send(pageview(session, 2))
        assert client.stats.sent == 3
        # eventeye processes in arrival order: once the last event is stored, so is every earlier one.
        assert _ids(eventeye.wait_stored(session, 2)) == [event["id"], str(marker)]

    def test_items_eventeye_refuses_are_reported_and_the_rest_stored(self, eventeye: Eventeye) -> None:
        session = new_session()
        failures: list[DeliveryFailure] = []
        too_long = {**pageview(session, 2), "session_id": "x" * 300}
        events = [pageview(session, 0), pageview(session, 1), too_long, pageview(session, 3)]
        with EventEyeClient(eventeye.url, eventeye.ingest_key, on_error=failures.append) as client:
            ids = [client.send(event) for event in events]
        assert [(f.kind, f.status, [e["id"] for e in f.events]) for f in failures] == [("rejected", 422, [str(ids[2])])]
        assert "session_id" in failures[0].reason
        assert (client.stats.sent, client.stats.rejected) == (3, 1)
        assert _ids(eventeye.wait_stored(session, 3)) == [str(ids[i]) for i in (0, 1, 3)]


class TestAsyncClient:
    async def test_every_event_is_stored_once_in_order(self, eventeye: Eventeye) -> None:
        session = new_session()
        async with AsyncEventEyeClient(eventeye.url, eventeye.ingest_key, batch_size=100, flush_interval=60) as client:
            sent = [await client.send(pageview(session, i)) for i in range(250)]
        stored = eventeye.wait_stored(session, len(sent))
        assert _ids(stored) == [str(i) for i in sent]
        assert (client.stats.sent, client.stats.requests) == (250, 3)

    async def test_a_refused_key_is_reported_not_retried(self, eventeye: Eventeye) -> None:
        failures: list[DeliveryFailure] = []
        async with AsyncEventEyeClient(eventeye.url, "ee_not_a_key", on_error=failures.append) as client:
            await client.send(pageview(new_session(), 0))
            await client.send(pageview(new_session(), 1))
        assert [(f.kind, f.status, len(f.events)) for f in failures] == [("rejected", 401, 2)]
        assert (client.stats.rejected, client.stats.requests, client.stats.retries) == (2, 1, 0)
