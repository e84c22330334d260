"""Retries against real misbehaving HTTP servers: 5xx, 429 with Retry-After, refused and dropped connections."""

from __future__ import annotations

import time

import pytest

from eventeye.client import AsyncEventEyeClient, DeliveryFailure, EventEyeClient
from tests.client.conftest import Eventeye, new_session, pageview
from tests.client.fakes import Fail, ForwardThenFail, ForwardThenStall, misbehaving
from tests.fixtures.server import free_port

FAST = {"backoff_initial": 0.05, "backoff_max": 0.2}


def test_5xx_is_retried_until_stored(eventeye: Eventeye) -> None:
    session = new_session()
    with misbehaving(eventeye.url, Fail(503), Fail(500)) as proxy:
        with EventEyeClient(proxy.url, eventeye.ingest_key, **FAST) as client:
            ids = [str(client.send(pageview(session, i))) for i in range(5)]
        assert [r.status for r in proxy.seen] == [503, 500, 202]
        assert all(r.ids == ids for r in proxy.seen), "a retry must resend the same events with the same ids"
    assert (client.stats.sent, client.stats.retries, client.stats.requests) == (5, 2, 3)
    assert [item["id"] for item in eventeye.wait_stored(session, 5)] == ids


def test_429_waits_as_long_as_retry_after_says(eventeye: Eventeye) -> None:
    session = new_session()
    with misbehaving(eventeye.url, Fail(429, retry_after="1")) as proxy:
        with EventEyeClient(proxy.url, eventeye.ingest_key, **FAST) as client:
            client.send(pageview(session, 0))
        first, second = proxy.seen
        assert (first.status, second.status) == (429, 202)
        assert second.at - first.at >= 1.0
    assert len(eventeye.wait_stored(session, 1)) == 1


def test_stored_but_unanswered_events_are_not_doubled_by_the_retry(eventeye: Eventeye) -> None:
    session = new_session()
    steps = (ForwardThenFail(502), ForwardThenStall(4))
    with misbehaving(eventeye.url, *steps) as proxy:
        with EventEyeClient(proxy.url, eventeye.ingest_key, timeout=2, **FAST) as client:
            ids = [str(client.send(pageview(session, i))) for i in range(10)]
            assert client.flush(timeout=10)
            marker = str(client.send(pageview(session, 10)))
        assert proxy.seen[0].ids == ids
    assert client.stats.retries == 2
    assert [item["id"] for item in eventeye.wait_stored(session, 11)] == [*ids, marker]


def test_connection_refused_is_retried_until_eventeye_is_there(eventeye: Eventeye) -> None:
    session, port = new_session(), free_port()
    client = EventEyeClient(f"http://127.0.0.1:{port}", eventeye.ingest_key, max_retries=1000, **FAST)
    ids = [str(client.send(pageview(session, i))) for i in range(3)]
    client.flush(timeout=0.2)
    deadline = time.monotonic() + 10
    while client.stats.retries < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.stats.retries >= 2
    assert client.stats.sent == 0
    with misbehaving(eventeye.url, port=port) as proxy:
        assert client.flush(timeout=10)
        assert proxy.events_seen == ids
    client.close()
    assert [item["id"] for item in eventeye.wait_stored(session, 3)] == ids


def test_exhausted_retries_are_reported_as_failed() -> None:
    failures: list[DeliveryFailure] = []
    with misbehaving(None, *[Fail(503)] * 3) as fake:
        client = EventEyeClient(fake.url, "ee_key", max_retries=2, on_error=failures.append, **FAST)
        event_id = client.send(pageview(new_session(), 0))
        assert client.flush(timeout=10)
        assert len(fake.seen) == 3
    client.close()
    [failure] = failures
    assert (failure.kind, failure.status, [e["id"] for e in failure.events]) == ("failed", 503, [str(event_id)])
    assert client.stats.failed == 1


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_4xx_are_never_retried(status: int) -> None:
    failures: list[DeliveryFailure] = []
    with misbehaving(None, Fail(status)) as fake:
        with EventEyeClient(fake.url, "ee_key", on_error=failures.append, **FAST) as client:
            client.send(pageview(new_session(), 0))
        assert len(fake.seen) == 1
    assert [(f.kind, f.status) for f in failures] == [("rejected", status)]
    assert (client.stats.rejected, client.stats.retries) == (1, 0)


def test_close_gives_up_after_its_timeout_and_reports_what_is_unsent() -> None:
    failures: list[DeliveryFailure] = []
    with misbehaving(None, *[Fail(503)] * 100) as fake:
        client = EventEyeClient(fake.url, "ee_key", batch_size=2, max_retries=100, on_error=failures.append, **FAST)
        for i in range(5):
            client.send(pageview(new_session(), i))
        started = time.monotonic()
        assert client.close(timeout=0.5) is False
        assert time.monotonic() - started < 5
    assert sum(len(f.events) for f in failures if f.kind == "failed") == 5
    assert client.stats.failed == 5


async def test_async_client_retries_5xx_and_429(eventeye: Eventeye) -> None:
    session = new_session()
    with misbehaving(eventeye.url, Fail(503), Fail(429, retry_after="0")) as proxy:
        async with AsyncEventEyeClient(proxy.url, eventeye.ingest_key, **FAST) as client:
            ids = [str(await client.send(pageview(session, i))) for i in range(4)]
        assert [r.status for r in proxy.seen] == [503, 429, 202]
    assert client.stats.retries == 2
    assert [item["id"] for item in eventeye.wait_stored(session, 4)] == ids
