"""Fixtures of the rules tests: an engine with chosen rules on the test database, and running batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.alerts import repository as alerts_repository
from eventeye.core.alerts.repository import Alert, AlertFilter
from eventeye.core.alerts.service import Alerts
from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules.engine import RulesEngine
from eventeye.core.storage.engine import read_transaction, write_transaction
from eventeye.core.storage.tables import rule_state

BuildEngine = Callable[..., RulesEngine]


@pytest.fixture
def build(engine: AsyncEngine, make_settings: Callable[..., Settings]) -> BuildEngine:
    """``build(rule_dict, ...)``: a rules engine (a fresh process's) with these configured rules."""

    def make(*rules: dict[str, Any], **overrides: Any) -> RulesEngine:
        settings = make_settings(rules=list(rules), **overrides)
        return RulesEngine(engine, settings, Alerts(engine, settings, secret_key="k" * 48))

    return make


async def process(rules: RulesEngine, facts: Sequence[Fact]) -> None:
    """One processed batch: the store hook in a transaction, then after its commit."""
    async with write_transaction(rules.engine) as conn:
        await rules.on_stored(conn, sorted(facts, key=lambda fact: fact.occurred_at))
    await rules.after_commit()


class Crash(Exception):
    pass


async def process_and_crash(rules: RulesEngine, facts: Sequence[Fact]) -> None:
    """A batch whose transaction never commits (the process died before)."""

    async def crash() -> None:
        async with write_transaction(rules.engine) as conn:
            await rules.on_stored(conn, sorted(facts, key=lambda fact: fact.occurred_at))
            raise Crash()

    with pytest.raises(Crash):
        await crash()


async def stored_alerts(engine: AsyncEngine, **where: Any) -> list[Alert]:
    async with read_transaction(engine) as conn:
        return await alerts_repository.alerts_after(conn, where=AlertFilter(**where), after=None, limit=10_000)


async def stored_state(engine: AsyncEngine, rule: str, key: str) -> dict[str, Any] | None:
    """The stored row holding ``rule``'s state for ``key``, with ``data`` that rule's own state."""
    async with read_transaction(engine) as conn:
        rows = (await conn.execute(select(rule_state).where(rule_state.c.key == key))).all()
    for row in rows:
        member = row.data.get("members", {}).get(rule)
        if member is not None:
            return dict(row._mapping) | {"data": row.data.get("common", {}) | member["state"]}
    return None
