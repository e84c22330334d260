"""Batching, flush and close, seen by a real HTTP server between the client and eventeye."""

from __future__ import annotations

import subprocess
import sys
import time

from eventeye.client import AsyncEventEyeClient, EventEyeClient
from tests.client.conftest import Eventeye, new_session, pageview
from tests.client.fakes import misbehaving
from tests.fixtures.server import free_port


def test_full_batches_go_at_once_and_the_rest_waits_for_flush(eventeye: Eventeye) -> None:
    session = new_session()
    with misbehaving(eventeye.url) as proxy:
        client = EventEyeClient(proxy.url, eventeye.ingest_key, batch_size=10, flush_interval=60)
        ids = [str(client.send(pageview(session, i))) for i in range(35)]
        assert [len(r.ids) for r in proxy.wait_for_requests(3)] == [10, 10, 10]
        time.sleep(0.3)
        assert len(proxy.seen) == 3, "a partial batch left before its interval or a flush"
        assert client.flush(timeout=10)
        assert [len(r.ids) for r in proxy.seen] == [10, 10, 10, 5]
        assert proxy.events_seen == ids
        client.close()
    assert len(eventeye.wait_stored(session, 35)) == 35


def test_a_partial_batch_leaves_after_the_flush_interval(eventeye: Eventeye) -> None:
    with (
        misbehaving(eventeye.url) as proxy,
        EventEyeClient(proxy.url, eventeye.ingest_key, flush_interval=0.3) as client,
    ):
        started = time.monotonic()
        ids = [str(client.send(pageview(new_session(), i))) for i in range(3)]
        [request] = proxy.wait_for_requests(1)
        assert request.ids == ids
        assert 0.25 <= request.at - started < 5


def test_close_delivers_everything_buffered(eventeye: Eventeye) -> None:
    session = new_session()
    with misbehaving(eventeye.url) as proxy:
        client = EventEyeClient(proxy.url, eventeye.ingest_key, batch_size=40, flush_interval=60)
        ids = [str(client.send(pageview(session, i))) for i in range(100)]
        assert client.close(timeout=10)
        assert proxy.events_seen == ids
    assert client.stats.sent == 100
    assert len(eventeye.wait_stored(session, 100)) == 100


async def test_async_flush_and_close_drain(eventeye: Eventeye) -> None:
    session = new_session()
    with misbehaving(eventeye.url) as proxy:
        client = AsyncEventEyeClient(proxy.url, eventeye.ingest_key, batch_size=10, flush_interval=60)
        first = [str(await client.send(pageview(session, i))) for i in range(15)]
        assert await client.flush(timeout=10)
        assert [len(r.ids) for r in proxy.seen] == [10, 5]
        second = [str(await client.send(pageview(session, i))) for i in range(15, 18)]
        assert await client.close(timeout=10)
        assert proxy.events_seen == first + second
    assert len(eventeye.wait_stored(session, 18)) == 18


EVENT = '{"session_id": sys.argv[3], "category": "c", "name": "n", "timestamp": "2021-01-01 09:15:00"}'


def test_an_unclosed_client_delivers_at_interpreter_exit(eventeye: Eventeye) -> None:
    session = new_session()
    script = (
        "import sys; from eventeye.client import EventEyeClient\n"
        "client = EventEyeClient(sys.argv[1], sys.argv[2], flush_interval=60)\n"
        f"for i in range(7): client.send({EVENT})\n"
    )
    subprocess.run([sys.executable, "-c", script, eventeye.url, eventeye.ingest_key, session], check=True, timeout=60)
    assert len(eventeye.wait_stored(session, 7)) == 7


def test_at_exit_an_unreachable_server_delays_exit_by_one_timeout_at_most() -> None:
    script = (
        "import sys, time; from eventeye.client import EventEyeClient\n"
        "client = EventEyeClient(sys.argv[1], 'ee_key', timeout=1, max_retries=1000, backoff_max=0.1)\n"
        f"client.send({EVENT})\n"
        "print(time.time())\n"
    )
    args = [sys.executable, "-c", script, f"http://127.0.0.1:{free_port()}", "", "s"]
    done = subprocess.run(args, check=True, timeout=60, capture_output=True, text=True)
    assert time.time() - float(done.stdout) < 3
