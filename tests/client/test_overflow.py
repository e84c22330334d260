"""The bounded buffer: "block" waits for room up to ``block_timeout``, "drop_oldest" drops and counts."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from eventeye.client import AsyncEventEyeClient, BufferFull, DeliveryFailure, EventEyeClient
from tests.client.conftest import Eventeye, new_session, pageview
from tests.client.fakes import misbehaving

SMALL = {"batch_size": 5, "max_buffer": 5, "flush_interval": 0.01}


def test_block_raises_buffer_full_after_its_timeout(eventeye: Eventeye) -> None:
    session = new_session()
    with misbehaving(eventeye.url) as proxy:
        proxy.hold()
        client = EventEyeClient(proxy.url, eventeye.ingest_key, block_timeout=0.3, **SMALL)
        ids = [str(client.send(pageview(session, i))) for i in range(5)]
        proxy.wait_for_arrivals(1)  # the first five are in flight, held
        ids += [str(client.send(pageview(session, i))) for i in range(5, 10)]
        started = time.monotonic()
        with pytest.raises(BufferFull):
            client.send(pageview(session, 10))
        assert time.monotonic() - started >= 0.3
        proxy.release()
        assert client.close(timeout=10)
    assert client.stats.sent == 10
    assert [item["id"] for item in eventeye.wait_stored(session, 10)] == ids


def test_block_waits_for_room_and_then_buffers(eventeye: Eventeye) -> None:
    session = new_session()
    with misbehaving(eventeye.url) as proxy:
        proxy.hold()
        client = EventEyeClient(proxy.url, eventeye.ingest_key, block_timeout=10, **SMALL)
        ids = [str(client.send(pageview(session, i))) for i in range(5)]
        proxy.wait_for_arrivals(1)
        ids += [str(client.send(pageview(session, i))) for i in range(5, 10)]
        threading.Timer(0.3, proxy.release).start()
        started = time.monotonic()
        ids.append(str(client.send(pageview(session, 10))))
        assert 0.25 <= time.monotonic() - started < 10
        assert client.close(timeout=10)
    assert [item["id"] for item in eventeye.wait_stored(session, 11)] == ids


def test_drop_oldest_drops_the_oldest_buffered_and_counts_them(eventeye: Eventeye) -> None:
    session = new_session()
    dropped: list[DeliveryFailure] = []
    with misbehaving(eventeye.url) as proxy:
        proxy.hold()
        client = EventEyeClient(
            proxy.url, eventeye.ingest_key, overflow="drop_oldest", on_error=dropped.append, **SMALL
        )
        ids = [str(client.send(pageview(session, i))) for i in range(5)]
        proxy.wait_for_arrivals(1)
        ids += [str(client.send(pageview(session, i))) for i in range(5, 13)]
        assert client.stats.dropped == 3
        proxy.release()
        assert client.close(timeout=10)
    assert [e["id"] for f in dropped for e in f.events] == ids[5:8]
    assert {f.kind for f in dropped} == {"dropped"}
    kept = ids[:5] + ids[8:]
    assert [item["id"] for item in eventeye.wait_stored(session, len(kept))] == kept


async def test_async_block_raises_buffer_full(eventeye: Eventeye) -> None:
    session = new_session()
    with misbehaving(eventeye.url) as proxy:
        proxy.hold()
        client = AsyncEventEyeClient(proxy.url, eventeye.ingest_key, block_timeout=0.2, **SMALL)
        for i in range(5):
            await client.send(pageview(session, i))
        await asyncio.to_thread(proxy.wait_for_arrivals, 1)
        for i in range(5, 10):
            await client.send(pageview(session, i))
        with pytest.raises(BufferFull):
            await client.send(pageview(session, 10))
        proxy.release()
        assert await client.close(timeout=10)
    assert client.stats.sent == 10
    assert len(eventeye.wait_stored(session, 10)) == 10
