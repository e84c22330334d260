"""The engine on the store hook: alerts commit with their batch, state survives restarts, writers do not collide."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from asyncpg.pgproto.pgproto import UUID as DriverUUID  # type: ignore[import-untyped]
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.rules import repository as rules_repository
from eventeye.core.rules.engine import alert_id
from eventeye.core.storage.engine import write_transaction
from eventeye.core.storage.tables import rule_state
from tests.core.rules.conftest import BuildEngine, process, process_and_crash, stored_alerts, stored_state
from tests.core.rules.helpers import fact

SUSPICIOUS = {
    "name": "vehicles.suspicious",
    "kind": "match",
    "module": "vehicles",
    "when": [{"field": "Category", "op": "equals", "value": "SUV", "case_insensitive": True}],
    "severity": "critical",
}
PRESENCE = {
    "name": "activity.presence",
    "kind": "consecutive",
    "module": "activity",
    "key": ["camera"],
    "when": [{"field": "kind", "op": "in", "values": ["pedestrian", "bicycle"]}],
    "count": 3,
}


def person(at: float, camera: str = "c1", kind: str = "pedestrian") -> Any:
    return fact(at, module="activity", type="detection", camera=camera, kind=kind)


class TestMatch:
    async def test_stores_the_alert_with_what_triggered_it(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SUSPICIOUS)
        suv = fact(1, module="vehicles", type="detection", Category="suv", Make="Toyota")
        await process(rules, [fact(0, module="vehicles", type="detection", Category="Sedan"), suv])
        [alert] = await stored_alerts(engine)
        assert alert.id == alert_id("vehicles.suspicious", "", str(suv.event_id))
        assert (alert.rule, alert.kind, alert.module, alert.severity) == (
            "vehicles.suspicious",
            "match",
            "vehicles",
            "critical",
        )
        assert alert.event_ids == [str(suv.event_id)]
        assert alert.payload["event"]["attributes"] == {"Category": "suv", "Make": "Toyota"}

    async def test_other_modules_events_are_not_evaluated(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SUSPICIOUS)
        await process(rules, [fact(0, module="web", Category="SUV")])
        assert await stored_alerts(engine) == []

    async def test_the_same_trigger_stores_one_alert(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SUSPICIOUS)
        suv = fact(0, module="vehicles", Category="SUV")
        for _ in range(2):
            async with write_transaction(engine) as conn:
                raised = await rules.observe(conn, [suv])
        assert raised == []  # the second time: already stored
        assert len(await stored_alerts(engine)) == 1


class TestCrashAndRestart:
    async def test_a_batch_that_never_committed_leaves_no_alert_and_no_state(
        self, engine: AsyncEngine, build: BuildEngine
    ) -> None:
        rules = build(PRESENCE)
        batch = [person(0), person(1), person(2)]
        await process_and_crash(rules, batch)
        assert await stored_alerts(engine) == []
        assert await stored_state(engine, "activity.presence", "c1") is None
        await process(rules, [person(3), person(4)])  # the crashed batch must not have counted in memory either
        assert await stored_alerts(engine) == []

    async def test_a_state_written_first_in_a_transaction_goes_with_it(self, engine: AsyncEngine) -> None:
        """The write may be the transaction's first statement (on PostgreSQL, run on the driver itself)."""
        row = {"rule": "~g", "key": "k", "fingerprint": "f", "version": 1, "data": {}, "due_at": None}
        try:
            async with write_transaction(engine) as conn:
                written = await rules_repository.save_states(conn, rows=[{**row, "updated_at": datetime.now(UTC)}])
                assert written == {("~g", "k")}
                raise RuntimeError("the batch fails after the write")
        except RuntimeError:
            pass
        async with write_transaction(engine) as conn:
            assert await rules_repository.load_states(conn, pairs=[("~g", "k")]) == []

    async def test_a_redelivered_batch_raises_its_alert_once(self, engine: AsyncEngine, build: BuildEngine) -> None:
        batch = [person(0), person(1), person(2)]
        await process_and_crash(build(PRESENCE), batch)
        await process(build(PRESENCE), batch)  # after the restart, the inbox hands the batch over again
        [alert] = await stored_alerts(engine)
        assert alert.event_ids == [str(item.event_id) for item in batch]

    async def test_a_streak_continues_across_a_restart(self, engine: AsyncEngine, build: BuildEngine) -> None:
        await process(build(PRESENCE), [person(0), person(1)])
        restarted = build(PRESENCE)
        await process(restarted, [person(2), person(3)])
        [alert] = await stored_alerts(engine)
        assert alert.key == "c1"
        state = await stored_state(engine, "activity.presence", "c1")
        assert state is not None
        assert state["data"]["length"] == 3

    async def test_keys_are_independent(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(PRESENCE)
        await process(rules, [person(0, "c1"), person(1, "c2"), person(2, "c1"), person(3, "c2", "car")])
        await process(rules, [person(4, "c1"), person(5, "c2"), person(6, "c2")])
        assert [alert.key for alert in await stored_alerts(engine)] == ["c1"]

    async def test_changing_a_rule_starts_its_state_over(self, engine: AsyncEngine, build: BuildEngine) -> None:
        await process(build(PRESENCE), [person(0), person(1)])
        changed = build({**PRESENCE, "count": 2})
        await process(changed, [person(2)])
        assert await stored_alerts(engine) == []
        await process(changed, [person(3)])
        assert len(await stored_alerts(engine)) == 1


class TestSeveralWriters:
    async def test_a_stale_cache_is_caught_and_computed_again(self, engine: AsyncEngine, build: BuildEngine) -> None:
        first, second = build(PRESENCE), build(PRESENCE)
        await process(first, [person(0)])
        await process(second, [person(1)])  # the first worker's cache does not know
        third = person(2)
        await process(first, [third])
        [alert] = await stored_alerts(engine)
        assert alert.event_ids[-1] == str(third.event_id)
        state = await stored_state(engine, "activity.presence", "c1")
        assert state is not None
        assert state["data"]["length"] == 3

    async def test_concurrent_writers_lose_no_update(self, engine: AsyncEngine, build: BuildEngine) -> None:
        counting = {**PRESENCE, "count": 100_000}
        workers = [build(counting), build(counting)]

        async def run(rules: Any, offset: int) -> None:
            for index in range(15):
                await process(rules, [person(offset + index * 2, "c1"), person(offset + index * 2, "c2")])

        await asyncio.wait_for(asyncio.gather(run(workers[0], 0), run(workers[1], 1)), 60)
        for camera in ("c1", "c2"):
            state = await stored_state(engine, "activity.presence", camera)
            assert state is not None
            assert state["data"]["length"] == 30


class TestHotPath:
    async def test_a_batch_no_rule_looks_at_runs_no_statement(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SUSPICIOUS, PRESENCE)
        await process(rules, [fact(0, module="web")])  # the first batch reads the saved rules
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            async with write_transaction(engine) as conn:
                statements.clear()
                await rules.on_stored(conn, [fact(i, module="web", session_id=str(uuid.uuid4())) for i in range(200)])
                await rules.on_stored(conn, [fact(0, module="vehicles", Category="Sedan")])
                assert statements == []
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)

    async def test_rate_and_absence_skip_events_that_do_not_match(
        self, engine: AsyncEngine, build: BuildEngine
    ) -> None:
        errors = {
            "name": "web.error-burst",
            "kind": "rate",
            "module": "web",
            "key": ["app"],
            "when": [{"field": "category", "op": "equals", "value": "error"}],
            "count": 2,
            "window": 60,
        }
        rules = build(errors)
        await process(rules, [fact(i, app="shop", category="page interaction") for i in range(5)])
        assert await stored_state(engine, "web.error-burst", "shop") is None


class TestObserve:
    async def test_evaluates_in_the_callers_transaction(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(PRESENCE)
        async with write_transaction(engine) as conn:
            raised = await rules.observe(conn, [person(2), person(0), person(1)])
            assert [alert.rule for alert in raised] == ["activity.presence"]
        assert len(await stored_alerts(engine)) == 1

    async def test_then_the_processor_continues_from_the_stored_state(
        self, engine: AsyncEngine, build: BuildEngine
    ) -> None:
        rules = build(PRESENCE)
        await process(rules, [person(0)])
        async with write_transaction(engine) as conn:
            await rules.observe(conn, [person(1)])
        await process(rules, [person(2)])
        assert len(await stored_alerts(engine)) == 1


class TestGroupedState:
    """Rules that read the same events keep one state row per key, each rule's state its own."""

    async def test_threshold_variants_share_one_row_and_fire_each_at_its_count(
        self, engine: AsyncEngine, build: BuildEngine
    ) -> None:
        rules = build(PRESENCE, {**PRESENCE, "name": "activity.presence-long", "count": 5})
        await process(rules, [person(i) for i in range(4)])
        await process(build(PRESENCE, {**PRESENCE, "name": "activity.presence-long", "count": 5}), [person(4)])
        assert [alert.rule for alert in await stored_alerts(engine)] == [
            "activity.presence",
            "activity.presence-long",
        ]
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(rule_state)) == 1
        short, long = [await stored_state(engine, name, "c1") for name in PRESENCE_NAMES]
        assert (short or {})["data"]["length"] == 3  # at its count it stops counting
        assert (long or {})["data"]["length"] == 5

    async def test_a_changed_rule_starts_over_alone(self, engine: AsyncEngine, build: BuildEngine) -> None:
        longer = {**PRESENCE, "name": "activity.presence-long", "count": 10}
        await process(build(PRESENCE, longer), [person(i) for i in range(2)])
        changed = {**longer, "count": 11}  # same events selected: same group, new fingerprint
        await process(build(PRESENCE, changed), [person(2)])
        short, long = [await stored_state(engine, name, "c1") for name in PRESENCE_NAMES]
        assert (short or {})["data"]["length"] == 3
        assert (long or {})["data"]["length"] == 1

    async def test_a_rule_joining_the_group_leaves_the_others_state(
        self, engine: AsyncEngine, build: BuildEngine
    ) -> None:
        await process(build(PRESENCE), [person(0), person(1)])
        joined = build(PRESENCE, {**PRESENCE, "name": "activity.presence-long", "count": 10})
        await process(joined, [person(2)])
        assert [alert.rule for alert in await stored_alerts(engine)] == ["activity.presence"]
        assert ((await stored_state(engine, "activity.presence-long", "c1")) or {})["data"]["length"] == 1

    async def test_deleting_a_rule_drops_its_state_only(self, engine: AsyncEngine, build: BuildEngine) -> None:
        longer = {**PRESENCE, "name": "activity.presence-long", "count": 10}
        await process(build(PRESENCE, longer), [person(0), person(1)])
        async with write_transaction(engine) as conn:
            await rules_repository.delete_states(conn, rule="activity.presence-long")
        assert await stored_state(engine, "activity.presence-long", "c1") is None
        kept = await stored_state(engine, "activity.presence", "c1")
        assert kept is not None
        assert kept["data"]["length"] == 2
        assert kept["version"] == 2
        await process(build(PRESENCE, longer), [person(2)])  # comes back fresh, the other continues
        assert ((await stored_state(engine, "activity.presence-long", "c1")) or {})["data"]["length"] == 1
        assert ((await stored_state(engine, "activity.presence", "c1")) or {})["data"]["length"] == 3


PRESENCE_NAMES = ("activity.presence", "activity.presence-long")


class TestDriverIds:
    async def test_event_ids_as_the_database_driver_returns_them(self, engine: AsyncEngine, build: BuildEngine) -> None:
        """Facts of a processed batch carry asyncpg's UUID type: states and alerts store them as text."""
        burst = {"name": "web.burst", "kind": "rate", "module": "web", "key": ["app"], "count": 2, "window": 60}
        rules = build(burst, PRESENCE)
        web = [replace(fact(i, app="shop"), event_id=DriverUUID(uuid.uuid4().bytes)) for i in range(3)]
        people = [replace(person(i), event_id=DriverUUID(uuid.uuid4().bytes)) for i in range(3)]
        await process(rules, web + people)
        alerts = {alert.rule: alert for alert in await stored_alerts(engine)}
        assert alerts["web.burst"].event_ids == [str(item.event_id) for item in web]
        assert alerts["activity.presence"].event_ids == [str(item.event_id) for item in people]
        assert ((await stored_state(engine, "web.burst", "shop")) or {})["data"]["ids"] == alerts["web.burst"].event_ids
