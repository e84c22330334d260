"""Facts handed to the rules through ``core.deferred`` arm and fire rules once written."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.deferred import Deferred
from eventeye.core.pipeline.envelope import Fact
from eventeye.core.storage.tables import rule_state
from tests.core.rules.conftest import BuildEngine, stored_alerts
from tests.core.rules.helpers import fact


class TestDeferredThroughTheEngine:
    async def test_deferred_facts_arm_and_fire_an_absence_rule(self, engine: AsyncEngine, build: BuildEngine) -> None:
        rules = build({"name": "silent", "kind": "absence", "types": ["poll"], "key": ["app"], "silence": 60})
        polls = [fact(0, module="criticality", type="poll", source="x", app="x")]
        deferred: Deferred[Fact] = Deferred(engine, rules.observe, name="test", delay=60, max_pending=100)
        deferred.add(polls)
        async with engine.connect() as conn:
            assert (await conn.execute(select(rule_state.c.key))).all() == []
        await deferred.flush()
        async with engine.connect() as conn:
            stored = (await conn.execute(select(rule_state.c.key, rule_state.c.data))).all()
        assert [(key, list(data["members"])) for key, data in stored] == [("x", ["silent"])]
        await rules.check_timers(now=polls[0].occurred_at.replace(minute=2))
        assert [(a.rule, a.key) for a in await stored_alerts(engine)] == [("silent", "x")]
