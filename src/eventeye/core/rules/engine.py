"""The rules engine: evaluates stored facts against the rules in effect and raises alerts.

It runs as the processor's store hook, inside each batch's transaction:
state changes and alerts commit with the events that caused them, or not at
all, so a crash never loses an alert nor raises one twice (alert ids derive
from rule, key and trigger, and are inserted idempotently). Per batch it
writes the states it touched in one versioned statement; a state it did not
hold in memory is taken for new, and read back only if that write is
refused (after a restart, or when another worker wrote it). A timer task
fires ``absence`` rules.

Modules that learn of something outside the inbox (a consumer app polling,
say) feed it in their own transaction::

    await runtime.rules.observe(conn, [Fact(event_id=..., module="criticality", type="poll", ...)])
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from prometheus_client import Histogram
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.config import Settings
from eventeye.core.alerts.repository import Alert
from eventeye.core.alerts.service import Alerts, NewAlert
from eventeye.core.pipeline.envelope import Fact
from eventeye.core.responses import dumps
from eventeye.core.rules import repository as rules_repository
from eventeye.core.rules.base import CompiledRule
from eventeye.core.rules.catalog import Effective, RuleCatalog, RuleConfigError, describe, parse_configured
from eventeye.core.rules.groups import RuleGroup, States
from eventeye.core.rules.plan import Planner, Selector
from eventeye.core.rules.schemas import KafkaSink, LogSink, Rule
from eventeye.core.rules.state import Entry, Pair, StateCache
from eventeye.core.rules.steps import Fire, Step
from eventeye.core.storage.engine import write_transaction
from eventeye.core.tasks import TaskSpec

logger = logging.getLogger("eventeye.rules")

EVALUATION = Histogram(
    "eventeye_rules_evaluation_seconds",
    "Time the rules took on one processed batch (in its transaction)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)

ALERT_NAMESPACE = uuid.UUID("5d0c7a1e-3f4b-5c2d-9e8f-0a1b2c3d4e5f")
MAX_RETRIES = 5
TIMER_BATCH = 500
REFRESH_EVERY = 2.0

Raised = tuple[int, CompiledRule, str, Fire]


class StateConflict(RuntimeError):
    """Rule state kept changing under this writer; the batch is retried."""


def alert_id(rule: str, key: str, trigger: str) -> uuid.UUID:
    """Deterministic: the same rule, key and trigger always name the same alert."""
    return uuid.uuid5(ALERT_NAMESPACE, f"{rule}\n{key}\n{trigger}")


def _sinks(rule: Rule) -> tuple[tuple[str, str], ...]:
    return tuple(
        ("log", sink.level)
        if isinstance(sink, LogSink)
        else ("kafka", sink.topic)
        if isinstance(sink, KafkaSink)
        else ("webhook", sink.webhook)
        for sink in rule.sinks
    )


def _event(fact: Fact | None) -> dict[str, Any] | None:
    if fact is None:
        return None
    return {
        "id": str(fact.event_id),
        "type": fact.type,
        "source": fact.source,
        "occurred_at": fact.occurred_at.isoformat(),
        "attributes": fact.attributes,
    }


@dataclass
class Outcome:
    entries: dict[Pair, Entry] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)


class RulesEngine:
    """Evaluates facts against the rules in effect; a ``StoreHook`` of the processor."""

    def __init__(self, engine: AsyncEngine, settings: Settings, alerts: Alerts) -> None:
        self.engine = engine
        self.settings = settings
        self.alerts = alerts
        self.catalog = RuleCatalog(parse_configured(settings.rules))
        self.cache = StateCache(settings.rules_state_cache_size)
        self.compiled: dict[str, CompiledRule] = {}
        self.planner = Planner(())
        self.groups: dict[str, RuleGroup] = {}
        self._group_of: dict[Selector, RuleGroup] = {}
        self._sinks: dict[str, tuple[tuple[str, str], ...]] = {}
        self._version: tuple[int, datetime | None] | None = None
        self._checked_at = float("-inf")
        self._pending: Outcome | None = None
        self._rebuild()

    # Rules in effect

    def add_default(self, module: str, rule: Rule | dict[str, Any]) -> None:
        """A module's default rule; its events only, unless the rule names a module itself."""
        try:
            parsed = rule if isinstance(rule, Rule) else Rule.model_validate(rule)
        except ValidationError as exc:
            raise RuleConfigError(f"default rule of {module}: {describe(exc)}") from None
        if parsed.module is None:
            parsed = parsed.model_copy(update={"module": module})
        self.catalog.add_builtin(parsed)
        self._rebuild()

    def effective(self) -> dict[str, Effective]:
        return self.catalog.effective()

    async def refresh(self, conn: AsyncConnection, *, force: bool = False) -> None:
        """Re-read rules saved through the API when they changed (checked every few seconds)."""
        now = time.monotonic()
        if not force and now - self._checked_at < REFRESH_EVERY:
            return
        self._checked_at = now
        version = await rules_repository.rules_version(conn)
        if version == self._version and not force:
            return
        saved = await rules_repository.list_rules(conn)
        self.catalog.saved = {item.name: item for item in saved}
        self._version = version
        self._rebuild()

    def _rebuild(self) -> None:
        previous = self.compiled
        compiled = {}
        for name, effective in self.catalog.effective().items():
            if not effective.rule.enabled:
                continue
            old = previous.get(name)
            compiled[name] = old if old is not None and old.rule == effective.rule else CompiledRule(effective.rule)
        self.compiled = compiled
        self.planner = Planner(compiled.values())
        self._group_of = {
            selector: RuleGroup(selector.signature, selector.rules)
            for selector in self.planner.selectors
            if selector.stateful
        }
        self.groups = {group.name: group for group in self._group_of.values()}
        self._sinks = {name: _sinks(rule.rule) for name, rule in compiled.items()}

    # The store hook

    async def on_stored(self, conn: AsyncConnection, facts: Sequence[Fact]) -> None:
        self._pending = None
        started = time.perf_counter()
        await self.refresh(conn)
        if facts and self.compiled:
            self._pending = await self._evaluate(conn, facts, cached=True)
        EVALUATION.observe(time.perf_counter() - started)

    async def after_commit(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.cache.merge(pending.entries)
            await self.alerts.committed(pending.alerts)

    async def observe(self, conn: AsyncConnection, facts: Sequence[Fact]) -> list[Alert]:
        """Evaluate facts that did not come through the inbox, in the caller's transaction.

        Returns the alerts raised; they are published once the caller's
        transaction commits (PostgreSQL notifications, or the table poller).
        """
        await self.refresh(conn)
        if not facts or not self.compiled:
            return []
        outcome = await self._evaluate(conn, sorted(facts, key=lambda fact: fact.occurred_at), cached=False)
        self.cache.forget(outcome.entries)  # this process learns the new states only after the caller commits
        return outcome.alerts

    # Evaluation

    def _collect(self, facts: Sequence[Fact]) -> tuple[dict[Pair, tuple[RuleGroup, list[Step]]], list[Raised]]:
        """The steps of each (group, key) of stateful rules, and what stateless rules raise, in batch order."""
        pairs: dict[Pair, tuple[RuleGroup, list[Step]]] = {}
        raised: list[Raised] = []
        for (selector, key), steps in self.planner.collect(facts).items():
            group = self._group_of.get(selector)
            if group is not None:
                pairs[(group.name, key)] = (group, steps)
                continue
            for rule in selector.rules:
                raised += [(position, rule, key, fire) for position, fire in rule.machine.run(None, steps)]
        return pairs, raised

    async def _evaluate(self, conn: AsyncConnection, facts: Sequence[Fact], *, cached: bool) -> Outcome:
        groups, raised = self._collect(facts)
        outcome = Outcome()
        if groups:
            before = await self._load(conn, groups, cached=cached)
            outcome.entries, fired = await self._advance(conn, groups, before)
            raised += fired
        if raised:
            raised.sort(key=lambda item: (item[0], item[1].name))
            at = datetime.now(UTC)
            drafts = [
                self._draft(rule, key, fire, at + timedelta(microseconds=i))
                for i, (_, rule, key, fire) in enumerate(raised)
            ]
            outcome.alerts = await self.alerts.record(conn, drafts)
        return outcome

    async def _load(
        self, conn: AsyncConnection, groups: dict[Pair, tuple[RuleGroup, list[Step]]], *, cached: bool
    ) -> dict[Pair, Entry]:
        if cached:
            # A pair not in memory is taken for new: if it is stored after all (a restart, an
            # eviction), its versioned write is refused and it is read and computed again.
            return {pair: self.cache.get(pair) or _entry(group, None) for pair, (group, _) in groups.items()}
        rows = await rules_repository.load_states(conn, pairs=list(groups), lock=True)
        found = {(row.rule, row.key): row for row in rows}
        return {pair: _entry(group, found.get(pair)) for pair, (group, _) in groups.items()}

    async def _advance(
        self, conn: AsyncConnection, groups: dict[Pair, tuple[RuleGroup, list[Step]]], before: dict[Pair, Entry]
    ) -> tuple[dict[Pair, Entry], list[Raised]]:
        """Run each pair's steps and write the results; pairs written by others meanwhile are redone."""
        entries: dict[Pair, Entry] = {}
        fired: dict[Pair, list[Raised]] = {}
        todo = list(groups)
        at = datetime.now(UTC)
        for _ in range(MAX_RETRIES):
            rows = []
            for pair in todo:
                group, steps = groups[pair]
                entries[pair], fired[pair] = _run(group, pair[1], before[pair], steps)
                rows.append(_row(pair, entries[pair], group, at))
            written = await rules_repository.save_states(conn, rows=rows)
            todo = [pair for pair in todo if pair not in written]
            if not todo:
                return entries, [item for items in fired.values() for item in items]
            logger.debug("rule state of %d key(s) changed meanwhile; computing them again", len(todo))
            rows_now = await rules_repository.load_states(conn, pairs=todo, lock=True)
            found = {(row.rule, row.key): row for row in rows_now}
            for pair in todo:
                before[pair] = _entry(groups[pair][0], found.get(pair))
        raise StateConflict(f"rule state of {len(todo)} key(s) kept changing")

    def _draft(self, rule: CompiledRule, key: str, fire: Fire, at: datetime) -> NewAlert:
        definition = rule.rule
        fact = fire.fact
        module = definition.module or (fact.module if fact else fire.details.get("module")) or "core"
        payload = {"description": definition.description, "details": fire.details, "event": _event(fact)}
        alert = Alert(
            id=alert_id(definition.name, key, fire.trigger),
            rule=definition.name,
            kind=definition.kind,
            module=module,
            key=key,
            severity=definition.severity,
            event_ids=list(fire.event_ids),
            payload=orjson.loads(dumps(payload)),
            created_at=at,
        )
        return NewAlert(alert, self._sinks.get(definition.name, ()))

    # Timers

    async def check_timers(self, now: datetime | None = None) -> int:
        """Fire the ``absence`` rules whose silence has lasted long enough; returns the states looked at."""
        now = now or datetime.now(UTC)
        async with write_transaction(self.engine) as conn:
            await self.refresh(conn)
            rows = await rules_repository.due_states(conn, now=now, limit=TIMER_BATCH)
            if not rows:
                return 0
            entries, fires, stale = self._due(rows, now)
            await rules_repository.clear_due(conn, pairs=stale, at=now)
            written = await rules_repository.save_states(
                conn, rows=[_row(pair, entry, self.groups[pair[0]], now) for pair, entry in entries.items()]
            )
            drafts = [self._draft(rule, pair[1], fire, now) for pair, rule, fire in fires if pair in written]
            alerts = await self.alerts.record(conn, drafts)
        self.cache.forget(stale)
        self.cache.merge({pair: entry for pair, entry in entries.items() if pair in written})
        await self.alerts.committed(alerts)
        return len(rows)

    def _due(
        self, rows: list[rules_repository.StateRow], now: datetime
    ) -> tuple[dict[Pair, Entry], list[tuple[Pair, CompiledRule, Fire]], list[Pair]]:
        entries: dict[Pair, Entry] = {}
        fires: list[tuple[Pair, CompiledRule, Fire]] = []
        stale: list[Pair] = []
        for row in rows:
            pair = (row.rule, row.key)
            group = self.groups.get(row.rule)
            if group is None or group.fingerprint != row.fingerprint:
                stale.append(pair)  # the rules are gone, disabled or changed: their timers with them
                continue
            states = group.load(row.data)
            fires += [(pair, rule, fire) for rule, fire in group.check(states, now)]
            entries[pair] = Entry(row.fingerprint, row.version + 1, states, group.due(states))
        return entries, fires, stale

    async def run_timers(self) -> None:
        """Check timers until cancelled."""
        interval = self.settings.rules_timer_interval.total_seconds()
        while True:
            if await self.check_timers() < TIMER_BATCH:
                await asyncio.sleep(interval)

    def tasks(self, roles: set[str]) -> list[TaskSpec]:
        return [TaskSpec("rules-timers", self.run_timers)] if "worker" in roles else []


def _entry(group: RuleGroup, row: rules_repository.StateRow | None) -> Entry:
    if row is None:
        return Entry(group.fingerprint, 0, {}, None)
    if row.fingerprint != group.fingerprint:
        return Entry(row.fingerprint, row.version, {}, row.due_at)
    return Entry(row.fingerprint, row.version, group.load(row.data), row.due_at)


def _run(group: RuleGroup, key: str, before: Entry, steps: list[Step]) -> tuple[Entry, list[Raised]]:
    states: States = before.state if before.fingerprint == group.fingerprint else {}
    after, fired = group.run(states, steps)
    entry = Entry(group.fingerprint, before.version + 1, after, group.due(after))
    return entry, [(position, rule, key, fire) for position, rule, fire in fired]


def _row(pair: Pair, entry: Entry, group: RuleGroup, at: datetime) -> dict[str, Any]:
    return {
        "rule": pair[0],
        "key": pair[1],
        "fingerprint": entry.fingerprint,
        "version": entry.version,
        "data": group.dump(entry.state),
        "due_at": entry.due_at,
        "updated_at": at,
    }
