"""Syncing the provider into the store, on SQLite and PostgreSQL, against a real local provider."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.pacing import Pacer
from eventeye.core.storage.engine import create_engine, read_transaction, write_transaction
from eventeye.plans import repository
from eventeye.plans.repository import SyncRun
from eventeye.plans.sync import MAX_RECORDED_ISSUES, Syncer, lower_priority
from eventeye.plans.tables import plans, sync_lease
from tests.plans.feeds import SAMPLE, base_event, event, feed, zone
from tests.plans.provider import FakeProvider, Reply


async def stored(engine: AsyncEngine) -> dict[tuple[str, str], dict[str, Any]]:
    """Every stored plan by (base_event_id, event_id): its `/search` summary plus last_seen_at."""
    async with read_transaction(engine) as conn:
        rows = (await conn.execute(select(plans))).all()
    return {(r.base_event_id, r.event_id): {**orjson.loads(r.summary), "last_seen_at": r.last_seen_at} for r in rows}


async def sync(syncer: Syncer) -> SyncRun:
    """Run one sync that must not be skipped."""
    run = await syncer.run(trigger="cli")
    assert run is not None, "skipped: another holder had the lease"
    return run


def assert_failed(run: SyncRun | None, reason: str) -> None:
    assert run is not None
    assert run.outcome == "failed"
    assert reason in (run.error or ""), run.error


async def version(engine: AsyncEngine) -> int:
    async with read_transaction(engine) as conn:
        return await repository.get_data_version(conn)


class TestSample:
    async def test_stores_online_plans_and_records_the_run(
        self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        provider.serve(Reply(SAMPLE))
        run = await syncer.run(trigger="cli")
        assert run is not None
        assert (run.outcome, run.error, run.feed_bytes) == ("succeeded", None, len(SAMPLE))
        assert (run.new, run.updated, run.unchanged, run.invalid, run.offline) == (4, 0, 0, 1, 0)
        assert run.issues[0]["base_event_id"] == "444"
        assert "2021-09-31" in run.issues[0]["reason"]
        plans_by_key = await stored(engine)
        assert set(plans_by_key) == {("291", "291"), ("322", "1642"), ("322", "1643"), ("1591", "1642")}
        assert plans_by_key[("291", "291")] | {"id": None, "last_seen_at": None} == {
            "id": None,
            "title": "Camela en concierto",
            "start_date": "2021-06-30",
            "start_time": "21:00:00",
            "end_date": "2021-06-30",
            "end_time": "22:00:00",
            "min_price": 15.0,
            "max_price": 30.0,
            "last_seen_at": None,
        }
        assert plans_by_key[("322", "1642")]["id"] != plans_by_key[("1591", "1642")]["id"]
        async with read_transaction(engine) as conn:
            assert [r.id for r in await repository.list_sync_runs(conn, limit=10)] == [run.id]

    async def test_offline_base_events_are_not_stored(
        self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        provider.serve(Reply(feed(base_event("1", "Off", sell_mode="offline"), base_event("2", "On"))))
        run = await syncer.run(trigger="cli")
        assert run is not None
        assert (run.new, run.offline) == (1, 1)
        assert list(await stored(engine)) == [("2", "1")]


class TestAcrossSyncs:
    async def test_three_consecutive_responses(
        self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        a = base_event("1", "A", event("10", zones=(zone("10"),)))
        b = base_event("2", "B", event("20", zones=(zone("20"),)))
        b_renamed = base_event("2", "B renamed", event("20", zones=(zone("20"),)))
        b_repriced = base_event("2", "B renamed", event("20", zones=(zone("25"), zone("30"))))
        provider.queue(Reply(feed(a, b)), Reply(feed(a, b_renamed)), Reply(feed(b_repriced)))

        first = await syncer.run(trigger="schedule")
        after_first = await stored(engine)
        second = await syncer.run(trigger="schedule")
        third = await syncer.run(trigger="schedule")
        after_third = await stored(engine)

        assert first is not None
        assert second is not None
        assert third is not None
        assert [(r.new, r.updated, r.unchanged) for r in (first, second, third)] == [(2, 0, 0), (0, 1, 1), (0, 1, 0)]
        assert set(after_third) == {("1", "10"), ("2", "20")}  # A is gone from the feed, not from the store
        assert after_third[("1", "10")] == {**after_first[("1", "10")], "last_seen_at": second.started_at}
        assert after_third[("2", "20")]["last_seen_at"] == third.started_at
        assert (after_third[("2", "20")]["title"], after_third[("2", "20")]["min_price"]) == ("B renamed", 25.0)
        assert after_third[("2", "20")]["max_price"] == 30.0

    async def test_ids_are_stable_across_syncs_restarts_and_feed_order(
        self, make_syncer: Callable[..., Syncer], provider: FakeProvider, engine: AsyncEngine, database_url: str
    ) -> None:
        one, two = base_event("1", "A"), base_event("2", "B")
        provider.queue(Reply(feed(one, two)))
        await make_syncer().run(trigger="cli")
        before = {key: value["id"] for key, value in (await stored(engine)).items()}

        restarted = create_engine(database_url)  # another process: nothing shared but the database
        try:
            provider.queue(Reply(feed(two, base_event("1", "A, renamed"))))
            run = await make_syncer(engine_=restarted).run(trigger="cli")
        finally:
            await restarted.dispose()
        assert run is not None
        assert (run.updated, run.unchanged) == (1, 1)
        assert {key: value["id"] for key, value in (await stored(engine)).items()} == before
        assert all(uuid.UUID(value).version == 5 for value in before.values())

    async def test_the_data_version_moves_only_when_data_changes(
        self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        provider.queue(Reply(SAMPLE), Reply(SAMPLE), Reply(feed(base_event("9", "New"))))
        versions = []
        for _ in range(3):
            await syncer.run(trigger="schedule")
            versions.append(await version(engine))
        assert versions == [1, 1, 2]

    async def test_only_the_first_issues_are_kept_but_all_are_counted(
        self, syncer: Syncer, provider: FakeProvider
    ) -> None:
        bad = [base_event(str(i), "T", event(start="2021-13-01T00:00:00")) for i in range(MAX_RECORDED_ISSUES + 50)]
        provider.serve(Reply(feed(*bad, base_event("ok", "Fine"))))
        run = await syncer.run(trigger="cli")
        assert run is not None
        assert run.outcome == "succeeded"
        assert (run.invalid, len(run.issues), run.new) == (MAX_RECORDED_ISSUES + 50, MAX_RECORDED_ISSUES, 1)


class TestFailuresKeepTheData:
    async def _synced(self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine) -> dict[Any, Any]:
        provider.queue(Reply(SAMPLE))
        await syncer.run(trigger="cli")
        return await stored(engine)

    async def test_a_response_that_is_not_xml(
        self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        before = await self._synced(syncer, provider, engine)
        provider.serve(Reply(b"<html><body>We are down for maintenance</body></html>", content_type="text/html"))
        run = await syncer.run(trigger="cli")
        assert_failed(run, "not a provider feed")
        assert await stored(engine) == before
        assert await version(engine) == 1

    async def test_garbage_bytes(self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine) -> None:
        before = await self._synced(syncer, provider, engine)
        provider.serve(Reply(bytes(range(256)) * 10))
        run = await syncer.run(trigger="cli")
        assert_failed(run, "well-formed")
        assert await stored(engine) == before

    async def test_truncated_xml_changes_nothing(
        self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        before = await self._synced(syncer, provider, engine)
        many = [base_event(str(i), "Before the cut", event(zones=(zone("99"),) * 20)) for i in range(3000)]
        whole = feed(base_event("291", "Camela, renamed", event("291")), *many)
        provider.serve(Reply(whole[: len(whole) - 100]))
        run = await syncer.run(trigger="cli")
        assert_failed(run, "well-formed")
        assert (run.new, run.updated) == (0, 0)
        assert await stored(engine) == before
        assert await version(engine) == 1

    async def test_provider_errors_after_retries(
        self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        before = await self._synced(syncer, provider, engine)
        provider.serve(Reply(status=500))
        run = await syncer.run(trigger="cli")
        assert_failed(run, "500")
        assert provider.requests == 1 + 3  # the first sync, then one try and two retries
        assert await stored(engine) == before

    async def test_provider_timeouts(self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine) -> None:
        before = await self._synced(syncer, provider, engine)
        provider.serve(Reply(SAMPLE, delay=1.0))
        run = await syncer.run(trigger="cli")
        assert_failed(run, "timed out")
        assert await stored(engine) == before

    async def test_a_huge_response(
        self, make_syncer: Callable[..., Syncer], provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        syncer = make_syncer(plans_max_feed_bytes=64 * 1024)
        before = await self._synced(syncer, provider, engine)
        provider.serve(Reply(SAMPLE, filler_bytes=8 * 1024 * 1024))
        run = await syncer.run(trigger="cli")
        assert_failed(run, "larger than")
        assert await stored(engine) == before

    async def test_an_open_circuit_does_not_call_the_provider(
        self, make_syncer: Callable[..., Syncer], provider: FakeProvider
    ) -> None:
        syncer = make_syncer(plans_breaker_threshold=2, plans_provider_retries=0)
        provider.serve(Reply(status=503))
        runs = [await sync(syncer) for _ in range(4)]
        assert provider.requests == 2
        for run in runs[2:]:
            assert_failed(run, "circuit open")


class TestOneSyncAtATime:
    async def test_two_workers_syncing_at_once(
        self, make_syncer: Callable[..., Syncer], provider: FakeProvider, engine: AsyncEngine, database_url: str
    ) -> None:
        provider.serve(Reply(SAMPLE, delay=0.3))
        other = create_engine(database_url)
        try:
            runs = await asyncio.gather(
                make_syncer().run(trigger="schedule"), make_syncer(engine_=other).run(trigger="schedule")
            )
        finally:
            await other.dispose()
        assert sorted(run is None for run in runs) == [False, True]
        assert provider.requests == 1
        assert len(await stored(engine)) == 4

    async def test_a_lease_held_by_a_live_process_blocks_and_an_expired_one_does_not(
        self, syncer: Syncer, provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        provider.serve(Reply(SAMPLE))
        now = datetime.now(UTC)
        async with write_transaction(engine) as conn:
            await repository.acquire_lease(
                conn, name=syncer.lease_name, holder="crashed", now=now, ttl=timedelta(minutes=5)
            )
            dead_run = repository.SyncRun(
                id=uuid.uuid4(), provider=syncer.provider, trigger="schedule", holder="crashed", started_at=now,
                finished_at=None, outcome="running", error=None, feed_bytes=0, new=0, updated=0, unchanged=0,
                invalid=0, offline=0, issues=[],
            )  # fmt: skip
            await repository.create_sync_run(conn, run=dead_run)
        assert await syncer.run(trigger="cli") is None
        assert provider.requests == 0

        async with write_transaction(engine) as conn:
            await conn.execute(update(sync_lease).values(expires_at=now - timedelta(seconds=1)))
        run = await syncer.run(trigger="cli")
        assert run is not None
        assert run.outcome == "succeeded"
        async with read_transaction(engine) as conn:
            runs = {r.id: r for r in await repository.list_sync_runs(conn, limit=10)}
        assert (runs[dead_run.id].outcome, runs[dead_run.id].error) == ("failed", "interrupted: its process stopped")

    async def test_a_sync_that_loses_its_lease_stops_writing(
        self, make_syncer: Callable[..., Syncer], provider: FakeProvider, engine: AsyncEngine
    ) -> None:
        syncer = make_syncer(plans_sync_lease_ttl=timedelta(milliseconds=300), plans_provider_timeout=30)
        release = threading.Event()
        provider.serve(Reply(SAMPLE, delay=20, hold=release))
        task = asyncio.create_task(syncer.run(trigger="schedule"))
        for _ in range(100):  # until the sync, holding the lease, is waiting for the provider
            if provider.requests:
                break
            await asyncio.sleep(0.05)
        async with write_transaction(engine) as conn:
            await conn.execute(
                update(sync_lease).values(holder="usurper", expires_at=datetime.now(UTC) + timedelta(minutes=5))
            )
        await asyncio.sleep(1)  # the lease keeper checks every 0.1 s
        release.set()
        run = await asyncio.wait_for(task, 10)
        assert_failed(run, "lease was lost")
        assert await stored(engine) == {}


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU priority is Linux's")
def test_the_parser_thread_yields_the_cpu_and_the_process_does_not() -> None:
    process_nice = os.getpriority(os.PRIO_PROCESS, 0)
    process_policy = os.sched_getscheduler(0)
    seen: list[tuple[int, int]] = []

    def parser_thread() -> None:
        lower_priority(5, True)
        seen.append((os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), os.sched_getscheduler(0)))

    thread = threading.Thread(target=parser_thread)
    thread.start()
    thread.join()
    assert seen == [(min(19, process_nice + 5), os.SCHED_IDLE)]
    assert (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)) == (process_nice, process_policy)


class AlwaysBusy(Pacer):
    """A pacer on a machine that other processes keep busy."""

    def _machine_is_busy(self) -> bool:
        return True


async def test_on_a_busy_machine_the_sync_rests_and_stores_everything(
    make_syncer: Callable[..., Syncer],
    provider: FakeProvider,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("eventeye.plans.sync.Pacer", AlwaysBusy)
    provider.serve(Reply(feed(*(base_event(str(i), f"Plan {i}", event(str(i))) for i in range(300)))))
    syncer = make_syncer(plans_sync_cpu_share=0.5)
    assert syncer.cpu_share == 0.5
    with caplog.at_level("INFO", logger="eventeye.plans.sync"):
        run = await sync(syncer)
    assert (run.outcome, run.new) == ("succeeded", 300)
    assert len(await stored(engine)) == 300
    assert any("to other work on a busy machine" in message for message in caplog.messages)
