"""The state machines of the rule kinds, one step per event, O(1) each.

A machine turns (state, fact, whether the fact satisfies ``when``) into an
optional ``Fire``; its state is a small object that round-trips through JSON
(``dump``/``load``) so that it survives a restart. ``Fire.trigger`` names what
fired (an event id, or the event a silence followed), from which the alert's
id is derived: the same trigger never makes two alerts.

- ``match``: every matching event fires.
- ``consecutive``: fires when the streak of matching events reaches ``count``;
  an event in scope that does not match breaks the streak and re-arms it.
- ``rate``: fires when more than ``count`` matching events fall in the window
  (counted in ``buckets`` slices, anchored at the latest event time seen);
  re-arms once the count is back at ``count`` or below.
- ``absence``: fires once when no matching event came for ``silence`` after the
  latest one, noticed by the timer or by the next event; that event re-arms it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules.schemas import Rule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_EVENT_IDS = 10


@dataclass(frozen=True, slots=True)
class Fire:
    """A rule fired: what triggered it (for the alert id), the events involved and details."""

    trigger: str
    event_ids: Sequence[str]
    details: dict[str, Any]
    fact: Fact | None = None


class Machine(Protocol):
    stateful: bool

    def new(self) -> Any: ...

    def step(self, state: Any, fact: Fact, matched: bool) -> Fire | None: ...

    def due(self, state: Any) -> datetime | None: ...

    def check(self, state: Any, now: datetime) -> Fire | None: ...

    def dump(self, state: Any) -> dict[str, Any]: ...

    def load(self, data: dict[str, Any]) -> Any: ...

    def copy(self, state: Any) -> Any: ...


def _remember(ids: list[str], event_id: str, keep: int) -> None:
    ids.append(event_id)
    if len(ids) > keep:
        del ids[0]


class _Timerless:
    def due(self, state: Any) -> datetime | None:
        return None

    def check(self, state: Any, now: datetime) -> Fire | None:
        return None


class Match(_Timerless):
    stateful = False

    def new(self) -> None:
        return None

    def step(self, state: Any, fact: Fact, matched: bool) -> Fire | None:
        if not matched:
            return None
        return Fire(trigger=str(fact.event_id), event_ids=[str(fact.event_id)], details={}, fact=fact)

    def dump(self, state: Any) -> dict[str, Any]:
        return {}

    def load(self, data: dict[str, Any]) -> None:
        return None

    def copy(self, state: Any) -> None:
        return None


@dataclass(slots=True)
class Streak:
    length: int = 0
    ids: list[str] = field(default_factory=list)


class Consecutive(_Timerless):
    stateful = True

    def __init__(self, count: int) -> None:
        self.count = count
        self.keep = min(count, MAX_EVENT_IDS)

    def new(self) -> Streak:
        return Streak()

    def step(self, state: Streak, fact: Fact, matched: bool) -> Fire | None:
        if not matched:
            state.length, state.ids = 0, []
            return None
        if state.length >= self.count:
            return None  # fired for this streak already
        state.length += 1
        _remember(state.ids, str(fact.event_id), self.keep)
        if state.length < self.count:
            return None
        return Fire(str(fact.event_id), list(state.ids), {"count": self.count}, fact)

    def dump(self, state: Streak) -> dict[str, Any]:
        return {"length": state.length, "ids": state.ids}

    def load(self, data: dict[str, Any]) -> Streak:
        return Streak(length=int(data.get("length", 0)), ids=list(data.get("ids", [])))

    def copy(self, state: Streak) -> Streak:
        return Streak(state.length, list(state.ids))


@dataclass(slots=True)
class Window:
    head: int | None = None
    counts: list[int] = field(default_factory=list)
    total: int = 0
    armed: bool = True
    ids: list[str] = field(default_factory=list)


class Rate(_Timerless):
    stateful = True

    def __init__(self, count: int, window: timedelta, buckets: int) -> None:
        self.count = count
        self.window = window
        self.buckets = buckets
        self.width = max(window / buckets, timedelta(microseconds=1))
        self.keep = min(count + 1, MAX_EVENT_IDS)

    def new(self) -> Window:
        return Window(counts=[0] * self.buckets)

    def bucket(self, at: datetime) -> int:
        return (at - EPOCH) // self.width

    def _advance(self, state: Window, bucket: int) -> None:
        if state.head is None or bucket >= state.head + self.buckets:
            state.counts, state.total = [0] * self.buckets, 0
        else:
            for index in range(state.head + 1, bucket + 1):
                slot = index % self.buckets
                state.total -= state.counts[slot]
                state.counts[slot] = 0
        state.head = bucket

    def step(self, state: Window, fact: Fact, matched: bool) -> Fire | None:
        if not matched:
            return None
        bucket = self.bucket(fact.occurred_at)
        if state.head is None or bucket > state.head:
            self._advance(state, bucket)
        assert state.head is not None
        if bucket <= state.head - self.buckets:
            return None  # older than the window: it can never count
        if state.total <= self.count:
            state.armed = True
        state.counts[bucket % self.buckets] += 1
        state.total += 1
        _remember(state.ids, str(fact.event_id), self.keep)
        if state.total <= self.count or not state.armed:
            return None
        state.armed = False
        details = {"count": state.total, "threshold": self.count, "window": self.window.total_seconds()}
        return Fire(str(fact.event_id), list(state.ids), details, fact)

    def dump(self, state: Window) -> dict[str, Any]:
        return {
            "head": state.head,
            "counts": state.counts,
            "total": state.total,
            "armed": state.armed,
            "ids": state.ids,
        }

    def load(self, data: dict[str, Any]) -> Window:
        counts = list(data.get("counts", []))
        if len(counts) != self.buckets:
            return self.new()
        return Window(
            data.get("head"), counts, int(data.get("total", 0)), bool(data.get("armed", True)), data.get("ids", [])
        )

    def copy(self, state: Window) -> Window:
        return Window(state.head, list(state.counts), state.total, state.armed, list(state.ids))


@dataclass(slots=True)
class Silence:
    last_seen: datetime | None = None
    last_event: str | None = None
    module: str | None = None
    fired: bool = False


class Absence:
    stateful = True

    def __init__(self, silence: timedelta) -> None:
        self.silence = silence

    def new(self) -> Silence:
        return Silence()

    def step(self, state: Silence, fact: Fact, matched: bool) -> Fire | None:
        if not matched:
            return None
        fired = None
        if state.last_seen is not None and fact.occurred_at - state.last_seen >= self.silence:
            fired = self._fire(state, fact.occurred_at)  # a silence the timer did not see end
        if state.last_seen is None or fact.occurred_at > state.last_seen:
            state.last_seen, state.last_event, state.fired = fact.occurred_at, str(fact.event_id), False
            state.module = fact.module
        return fired

    def due(self, state: Silence) -> datetime | None:
        if state.fired or state.last_seen is None:
            return None
        return state.last_seen + self.silence

    def check(self, state: Silence, now: datetime) -> Fire | None:
        if state.last_seen is None or now - state.last_seen < self.silence:
            return None
        return self._fire(state, now)

    def _fire(self, state: Silence, now: datetime) -> Fire | None:
        if state.fired or state.last_seen is None or state.last_event is None:
            return None
        state.fired = True
        details = {
            "last_seen": state.last_seen.isoformat(),
            "silence": self.silence.total_seconds(),
            "noticed_at": now.isoformat(),
            "module": state.module,
        }
        return Fire(f"silence:{state.last_event}", [state.last_event], details)

    def dump(self, state: Silence) -> dict[str, Any]:
        seen = state.last_seen.isoformat() if state.last_seen else None
        return {"last_seen": seen, "last_event": state.last_event, "module": state.module, "fired": state.fired}

    def load(self, data: dict[str, Any]) -> Silence:
        seen = data.get("last_seen")
        return Silence(
            last_seen=datetime.fromisoformat(seen) if seen else None,
            last_event=data.get("last_event"),
            module=data.get("module"),
            fired=bool(data.get("fired", False)),
        )

    def copy(self, state: Silence) -> Silence:
        return Silence(state.last_seen, state.last_event, state.module, state.fired)


def machine_for(rule: Rule) -> Machine:
    if rule.kind == "consecutive":
        assert rule.count is not None
        return Consecutive(rule.count)
    if rule.kind == "rate":
        assert rule.count is not None
        assert rule.window is not None
        return Rate(rule.count, rule.window, rule.buckets)
    if rule.kind == "absence":
        assert rule.silence is not None
        return Absence(rule.silence)
    return Match()
