"""``absence`` rules and their timer: once per silence, re-armed by the next event, not again after a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules import repository as rules_repository
from eventeye.core.storage.engine import write_transaction
from tests.core.rules.conftest import BuildEngine, process, stored_alerts, stored_state
from tests.core.rules.helpers import T0, fact
from tests.fixtures.waiting import eventually

SILENT_CONSUMER = {
    "name": "criticality.silent-consumer",
    "kind": "absence",
    "module": "criticality",
    "types": ["poll"],
    "key": ["app"],
    "silence": 600,
}


def poll(at: float | datetime, app: str = "reader") -> Fact:
    return fact(at, module="criticality", type="poll", app=app)


def after(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class TestAbsence:
    async def test_fires_once_when_the_silence_has_lasted(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SILENT_CONSUMER)
        last = poll(60)
        await process(rules, [poll(0), last])
        assert await rules.check_timers(after(659)) == 0
        assert await stored_alerts(engine) == []
        assert await rules.check_timers(after(660)) == 1
        [alert] = await stored_alerts(engine)
        assert (alert.key, alert.module, alert.event_ids) == ("reader", "criticality", [str(last.event_id)])
        assert alert.payload["details"]["last_seen"] == after(60).isoformat()
        assert await rules.check_timers(after(5000)) == 0
        assert len(await stored_alerts(engine)) == 1

    async def test_the_next_event_re_arms_it(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SILENT_CONSUMER)
        await process(rules, [poll(0)])
        await rules.check_timers(after(700))
        await process(rules, [poll(800)])
        await rules.check_timers(after(1000))
        assert len(await stored_alerts(engine)) == 1
        await rules.check_timers(after(1400))
        assert len(await stored_alerts(engine)) == 2

    async def test_a_restart_does_not_fire_it_again(self, engine: AsyncEngine, build: BuildEngine) -> None:
        await process(build(SILENT_CONSUMER), [poll(0)])
        await build(SILENT_CONSUMER).check_timers(after(601))
        assert await build(SILENT_CONSUMER).check_timers(after(9000)) == 0
        assert len(await stored_alerts(engine)) == 1

    async def test_a_restart_keeps_the_timer_armed(self, engine: AsyncEngine, build: BuildEngine) -> None:
        await process(build(SILENT_CONSUMER), [poll(0)])
        assert await build(SILENT_CONSUMER).check_timers(after(601)) == 1
        assert len(await stored_alerts(engine)) == 1

    async def test_keys_fall_silent_apart(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SILENT_CONSUMER)
        await process(rules, [poll(0, "a"), poll(0, "b")])
        await process(rules, [poll(500, "b")])
        await rules.check_timers(after(700))
        assert [alert.key for alert in await stored_alerts(engine)] == ["a"]

    async def test_polls_observed_outside_the_inbox_arm_it(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SILENT_CONSUMER)
        async with write_transaction(engine) as conn:
            await rules.observe(conn, [poll(0)])
        await rules.check_timers(after(601))
        assert len(await stored_alerts(engine)) == 1

    async def test_a_disabled_rule_drops_its_timers(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SILENT_CONSUMER)
        await process(rules, [poll(0)])
        async with write_transaction(engine) as conn:
            await rules_repository.set_enabled(conn, name="criticality.silent-consumer", enabled=False, at=T0)
            await rules.refresh(conn, force=True)
        assert await rules.check_timers(after(601)) == 1
        assert await rules.check_timers(after(602)) == 0
        assert await stored_alerts(engine) == []
        state = await stored_state(engine, "criticality.silent-consumer", "reader")
        assert state is not None
        assert state["due_at"] is None

    async def test_silences_of_a_group_fire_each_at_its_length(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build(SILENT_CONSUMER, {**SILENT_CONSUMER, "name": "criticality.long-silence", "silence": 900})
        await process(rules, [poll(0)])
        await rules.check_timers(after(700))
        assert [alert.rule for alert in await stored_alerts(engine)] == ["criticality.silent-consumer"]
        state = await stored_state(engine, "criticality.long-silence", "reader")
        assert state is not None
        assert state["due_at"] == after(900)
        await rules.check_timers(after(950))
        assert sorted(alert.rule for alert in await stored_alerts(engine)) == [
            "criticality.long-silence",
            "criticality.silent-consumer",
        ]
        assert await rules.check_timers(after(5000)) == 0

    async def test_the_timer_task_fires_on_its_own(self, engine: AsyncEngine, build: BuildEngine) -> None:
        quick = {**SILENT_CONSUMER, "silence": 0.2}
        rules = build(quick, rules_timer_interval=0.05)
        await process(rules, [poll(datetime.now(UTC))])
        task = asyncio.create_task(rules.run_timers())
        try:
            alerts = await eventually(lambda: stored_alerts(engine), lambda found: len(found) == 1, timeout=5)
            await asyncio.sleep(0.3)
            assert len(await stored_alerts(engine)) == len(alerts)
        finally:
            task.cancel()  # and wait: a task cancelled mid-transaction must be done before the database is reset
            await asyncio.gather(task, return_exceptions=True)
