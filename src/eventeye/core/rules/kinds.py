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

from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, Protocol

from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules.schemas import Rule
from eventeye.core.rules.steps import Fire, Step, Timeline, timeline_of

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_event_id = attrgetter("event_id")
MAX_EVENT_IDS = 5


class Machine(Protocol):
    stateful: bool
    shares: Hashable | None
    """Machines with equal ``shares`` (not None) can run one batch's steps together (``run_shared``)."""

    def new(self) -> Any: ...

    def run(self, state: Any, steps: Sequence[Step]) -> list[tuple[int, Fire]]: ...

    def run_shared(self, machines: Sequence[Machine], states: Sequence[Any], steps: Sequence[Step]) -> Shared:
        """Each machine over the steps from its state, which is left as it was: its state after, what it fired."""
        ...

    def step(self, state: Any, fact: Fact, matched: bool) -> Fire | None: ...

    def due(self, state: Any) -> datetime | None: ...

    def check(self, state: Any, now: datetime) -> Fire | None: ...

    def dump(self, state: Any) -> dict[str, Any]: ...

    def load(self, data: dict[str, Any]) -> Any: ...

    def copy(self, state: Any) -> Any: ...


Shared = list[tuple[Any, list[tuple[int, Fire]]]]
"""Each machine's state after a batch and what it fired (``run_shared``)."""


class _Base:
    """``step`` is ``run`` over one step; ``run`` is each kind's one loop over a batch."""

    shares: Hashable | None = None

    def run(self, state: Any, steps: Sequence[Step]) -> list[tuple[int, Fire]]:
        raise NotImplementedError

    def run_shared(self, machines: Sequence[Machine], states: Sequence[Any], steps: Sequence[Step]) -> Shared:
        """Each machine over a copy of its state, as ``run``; kinds that can do it at once override this."""
        copies = [machine.copy(state) for machine, state in zip(machines, states, strict=True)]
        return [(copy, machine.run(copy, steps)) for machine, copy in zip(machines, copies, strict=True)]

    def step(self, state: Any, fact: Fact, matched: bool) -> Fire | None:
        fired = self.run(state, [(0, fact, matched)])
        return fired[0][1] if fired else None

    def due(self, state: Any) -> datetime | None:
        return None

    def check(self, state: Any, now: datetime) -> Fire | None:
        return None


class Match(_Base):
    stateful = False

    def new(self) -> None:
        return None

    def run(self, state: Any, steps: Sequence[Step]) -> list[tuple[int, Fire]]:
        return [
            (position, Fire(str(fact.event_id), [str(fact.event_id)], {}, fact))
            for position, fact, matched in steps
            if matched
        ]

    def dump(self, state: Any) -> dict[str, Any]:
        return {}

    def load(self, data: dict[str, Any]) -> None:
        return None

    def copy(self, state: Any) -> None:
        return None


@dataclass(slots=True)
class Streak:
    length: int
    ids: deque[Any]


class Consecutive(_Base):
    stateful = True

    def __init__(self, count: int) -> None:
        self.count = count
        self.keep = min(count, MAX_EVENT_IDS)
        # Rules that differ only in their count follow the same streak: it is counted once for all.
        self.shares = ("consecutive",)

    def new(self) -> Streak:
        return Streak(0, deque(maxlen=self.keep))

    def run_shared(self, machines: Sequence[Machine], states: Sequence[Any], steps: Sequence[Step]) -> Shared:
        """Count variants whose streaks agree (and none has reached its count) follow one streak."""
        streaks = [machine for machine in machines if isinstance(machine, Consecutive)]
        if len(streaks) < len(machines) or not _streaks_in_step(streaks, states):
            return super().run_shared(machines, states, steps)
        return self._together(streaks, states, steps)

    def _together(self, streaks: Sequence[Consecutive], states: Sequence[Streak], steps: Sequence[Step]) -> Shared:
        reaching: dict[int, list[int]] = {}  # a length -> the variants that fire at it
        for index, machine in enumerate(streaks):
            reaching.setdefault(machine.count, []).append(index)
        lead = max(states, key=lambda state: len(state.ids))
        ids = deque(lead.ids, maxlen=max(machine.keep for machine in streaks))
        length = lead.length
        fired: list[list[tuple[int, Fire]]] = [[] for _ in streaks]
        held: dict[int, list[Any]] = {}  # the ids of the variants that reached their count, as they keep them
        for position, fact, matched in steps:
            if not matched:
                length = 0
                ids.clear()
                held.clear()
                continue
            length += 1
            ids.append(fact.event_id)
            for index in reaching.get(length, ()):
                machine = streaks[index]
                held[index] = [str(item) for item in ids][-machine.keep :]
                fired[index].append((position, Fire(str(fact.event_id), held[index], {"count": machine.count}, fact)))
        latest = _shared_ids(ids)
        after = [
            Streak(machine.count, deque(held[index], maxlen=machine.keep))  # at its count it stops, as alone
            if index in held
            else Streak(length, latest(machine.keep))
            for index, machine in enumerate(streaks)
        ]
        return list(zip(after, fired, strict=True))

    def run(self, state: Streak, steps: Sequence[Step]) -> list[tuple[int, Fire]]:
        count, ids, length = self.count, state.ids, state.length
        fired = []
        for position, fact, matched in steps:
            if not matched:
                length = 0
                ids.clear()
            elif length < count:  # at ``count`` it fired for this streak already
                length += 1
                ids.append(fact.event_id)
                if length == count:
                    fire = Fire(str(fact.event_id), [str(item) for item in ids], {"count": count}, fact)
                    fired.append((position, fire))
        state.length = length
        return fired

    def dump(self, state: Streak) -> dict[str, Any]:
        return {"length": state.length, "ids": [str(item) for item in state.ids]}

    def load(self, data: dict[str, Any]) -> Streak:
        return Streak(int(data.get("length", 0)), deque(data.get("ids", []), maxlen=self.keep))

    def copy(self, state: Streak) -> Streak:
        return Streak(state.length, deque(state.ids, maxlen=self.keep))


@dataclass(slots=True)
class Window:
    head: int | None
    counts: list[int]
    total: int
    armed: bool
    ids: deque[Any]


class Rate(_Base):
    stateful = True

    def __init__(self, count: int, window: timedelta, buckets: int) -> None:
        self.count = count
        self.window = window
        self.buckets = buckets
        self.width = max(window / buckets, timedelta(microseconds=1))
        self.keep = min(count + 1, MAX_EVENT_IDS)
        # Rules that differ only in their threshold count the same window: it is advanced once for all.
        self.shares = ("rate", window, buckets)

    def new(self) -> Window:
        return Window(None, [0] * self.buckets, 0, True, deque(maxlen=self.keep))

    def bucket(self, at: datetime) -> int:
        return (at - EPOCH) // self.width

    def _advance(self, state: Window, bucket: int) -> None:
        counts = state.counts
        if state.head is None or bucket >= state.head + self.buckets:
            counts[:] = [0] * self.buckets
            state.total = 0
        else:
            for index in range(state.head + 1, bucket + 1):
                slot = index % self.buckets
                state.total -= counts[slot]
                counts[slot] = 0
        state.head = bucket

    def run(self, state: Window, steps: Sequence[Step]) -> list[tuple[int, Fire]]:
        line = timeline_of(steps)
        return self._run_slices(state, line) if line is not None else self._run_steps(state, steps)

    def _run_slices(self, state: Window, line: Timeline) -> list[tuple[int, Fire]]:
        """In time order, a slice's events are counted at once: O(slices) instead of O(events)."""
        ((after, fired),) = self._slices([self], [state], line)
        for name in Window.__slots__:  # ``run`` changes the state it is given
            setattr(state, name, getattr(after, name))
        return fired

    def run_shared(self, machines: Sequence[Machine], states: Sequence[Any], steps: Sequence[Step]) -> Shared:
        """Threshold variants whose windows agree advance one window; each keeps its own arming."""
        line = timeline_of(steps)
        rates = [machine for machine in machines if isinstance(machine, Rate)]
        if line is None or len(rates) < len(machines) or not _windows_in_step(rates, states):
            return super().run_shared(machines, states, steps)
        return self._slices(rates, states, line)

    def _slices(self, rates: Sequence[Rate], states: Sequence[Window], line: Timeline) -> Shared:
        """The members' windows after the batch (sharing its counts and ids: states are copied before a change)."""
        keep, times = max(rate.keep for rate in rates), line.times
        source = max(states, key=lambda state: len(state.ids))  # the others' latest events are its tail
        ids = deque(source.ids, maxlen=keep)
        lead = Window(source.head, list(source.counts), source.total, source.armed, ids)  # the window advanced
        armed = [state.armed for state in states]
        first = 0 if lead.head is None else bisect_left(times, self._start(lead.head - self.buckets + 1))
        if lead.total + len(times) - first <= min(rate.count for rate in rates):
            # No count can pass a threshold in this batch: count it at once instead of a slice at a time.
            fired: list[list[tuple[int, Fire]]] = [[] for _ in rates]
            self._count(lead, times, first)
            ids.extend(map(_event_id, line.facts[max(first, len(times) - keep) :]))
            if first < len(times):
                armed = [True] * len(rates)  # as each count is at its threshold or below
        else:
            fired = self._step_slices(rates, armed, lead, ids, line, first)
        latest = _shared_ids(ids)
        after = [
            Window(lead.head, lead.counts, lead.total, member_armed, latest(rate.keep))
            for rate, member_armed in zip(rates, armed, strict=True)
        ]
        return list(zip(after, fired, strict=True))

    def _start(self, bucket: int) -> datetime:
        return EPOCH + bucket * self.width

    def _count(self, state: Window, times: list[datetime], start: int) -> None:
        """Count the events from ``start`` on (none older than the window) a slice of the last window at a time."""
        if start == len(times):
            return
        head = self.bucket(times[-1])
        if state.head is None or head > state.head:
            self._advance(state, head)
        else:
            head = state.head
        bucket = max(self.bucket(times[start]), head - self.buckets + 1)  # the older ones would expire
        start = bisect_left(times, self._start(bucket), start)
        while start < len(times):
            end = bisect_left(times, self._start(bucket + 1), start)
            state.counts[bucket % self.buckets] += end - start
            state.total += end - start
            start, bucket = end, bucket + 1

    def _step_slices(
        self, rates: Sequence[Rate], armed: list[bool], lead: Window, ids: deque[Any], line: Timeline, start: int
    ) -> list[list[tuple[int, Fire]]]:
        """A slice at a time from ``start``, each member firing where the count passes its threshold (and
        disarming: ``armed`` changes in place)."""
        times, keep = line.times, ids.maxlen or 0
        fired: list[list[tuple[int, Fire]]] = [[] for _ in rates]
        lowest = min(rate.count for rate in rates)
        settled = all(armed)  # then only a count past the lowest threshold matters
        while start < len(times):
            bucket = self.bucket(times[start])
            end = bisect_left(times, self._start(bucket + 1), start)
            if lead.head is None or bucket > lead.head:
                self._advance(lead, bucket)
            total = lead.total
            if not settled or total + (end - start) > lowest:
                for index, rate in enumerate(rates):
                    if total <= rate.count:
                        armed[index] = True
                    if armed[index] and total + (end - start) > rate.count:
                        at = start + max(0, rate.count - total)  # the event that takes the count over ``count``
                        fired[index].append((line.positions[at], rate._fire(total, ids, line, start, at)))
                        armed[index] = False
                settled = all(armed)
            lead.counts[bucket % self.buckets] += end - start
            lead.total += end - start
            ids.extend(map(_event_id, line.facts[max(start, end - keep) : end]))
            start = end
        return fired

    def _fire(self, total: int, before: deque[Any], line: Timeline, start: int, at: int) -> Fire:
        """The event at ``at`` took the count over; ``total`` and ``before`` are the window before the slice."""
        fact = line.facts[at]
        ids = [*before, *(item.event_id for item in line.facts[max(start, at + 1 - self.keep) : at + 1])]
        details = {
            "count": total + at - start + 1,
            "threshold": self.count,
            "window": self.window.total_seconds(),
        }
        return Fire(str(fact.event_id), [str(item) for item in ids[-self.keep :]], details, fact)

    def _run_steps(self, state: Window, steps: Sequence[Step]) -> list[tuple[int, Fire]]:
        width, buckets, count, counts = self.width, self.buckets, self.count, state.counts
        fired = []
        last_at, bucket = None, 0
        for position, fact, matched in steps:
            if not matched:
                continue
            if fact.occurred_at != last_at:  # facts come sorted: many share an instant
                last_at = fact.occurred_at
                bucket = (last_at - EPOCH) // width
            if state.head is None or bucket > state.head:
                self._advance(state, bucket)
            elif bucket <= state.head - buckets:
                continue  # older than the window: it can never count
            if state.total <= count:
                state.armed = True
            counts[bucket % buckets] += 1
            state.total += 1
            state.ids.append(fact.event_id)
            if state.total > count and state.armed:
                state.armed = False
                details = {"count": state.total, "threshold": count, "window": self.window.total_seconds()}
                fired.append((position, Fire(str(fact.event_id), [str(i) for i in state.ids], details, fact)))
        return fired

    def dump(self, state: Window) -> dict[str, Any]:
        ids = [str(item) for item in state.ids]
        return {"head": state.head, "counts": state.counts, "total": state.total, "armed": state.armed, "ids": ids}

    def load(self, data: dict[str, Any]) -> Window:
        counts = list(data.get("counts", []))
        if len(counts) != self.buckets:
            return self.new()
        ids = deque(data.get("ids", []), maxlen=self.keep)
        return Window(data.get("head"), counts, int(data.get("total", 0)), bool(data.get("armed", True)), ids)

    def copy(self, state: Window) -> Window:
        return Window(state.head, list(state.counts), state.total, state.armed, deque(state.ids, maxlen=self.keep))


def _shared_ids(ids: deque[Any]) -> Callable[[int], deque[str]]:
    """The latest ids as stored (text), one deque per length kept, shared by the members keeping as many."""
    latest = list(map(str, ids))  # once here, not once per member in ``dump``
    made: dict[int, deque[str]] = {}

    def of(keep: int) -> deque[str]:
        found = made.get(keep)
        if found is None:
            found = made[keep] = deque(latest, maxlen=keep)
        return found

    return of


def _in_step(
    machines: Sequence[Rate | Consecutive],
    states: Sequence[Any],
    kind: type,
    agree: Callable[[Any, Any, Any], bool],
) -> bool:
    """States of ``kind`` that ``agree`` with the one holding the most ids, each holding the latest it has room for."""
    if not all(isinstance(state, kind) for state in states):
        return False
    lead = max(states, key=lambda state: len(state.ids))
    latest = list(lead.ids)
    return all(
        agree(machine, state, lead)
        and (state.ids is lead.ids or list(state.ids) == latest[max(0, len(latest) - machine.keep) :])
        for machine, state in zip(machines, states, strict=True)
    )


def _windows_in_step(rates: Sequence[Rate], states: Sequence[Any]) -> bool:
    """The windows count the same: same slices, and each holds the latest events it has room for."""
    return _in_step(rates, states, Window, _same_window)


def _same_window(rate: Rate, state: Window, lead: Window) -> bool:
    return (
        state.head == lead.head
        and state.total == lead.total
        and (state.counts is lead.counts or state.counts == lead.counts)
    )


def _streaks_in_step(streaks: Sequence[Consecutive], states: Sequence[Any]) -> bool:
    """The streaks are one: the same length, short of every count, each holding its share of the latest ids."""
    return _in_step(streaks, states, Streak, _same_streak)


def _same_streak(machine: Consecutive, state: Streak, lead: Streak) -> bool:
    return state.length == lead.length < machine.count


@dataclass(slots=True)
class Silence:
    last_seen: datetime | None = None
    last_event: Any = None
    module: str | None = None
    fired: bool = False


class Absence(_Base):
    stateful = True

    def __init__(self, silence: timedelta) -> None:
        self.silence = silence

    def new(self) -> Silence:
        return Silence()

    def run(self, state: Silence, steps: Sequence[Step]) -> list[tuple[int, Fire]]:
        line = timeline_of(steps)
        if line is None or not line.times or not self._quiet(state, line):
            return self._run_steps(state, steps)
        # In time order and with no silence in the batch, only the latest event matters.
        top = line.times[-1]
        if state.last_seen is None or top > state.last_seen:
            fact = line.facts[bisect_left(line.times, top)]
            state.last_seen, state.last_event, state.fired, state.module = top, fact.event_id, False, fact.module
        return []

    def _quiet(self, state: Silence, line: Timeline) -> bool:
        """No gap of ``silence`` in the batch, nor between the stored last event and the batch's first."""
        inside = line.max_gap is None or line.max_gap < self.silence
        last = state.last_seen
        return inside and (last is None or state.fired or line.times[0] < last + self.silence)

    def _run_steps(self, state: Silence, steps: Sequence[Step]) -> list[tuple[int, Fire]]:
        fired = []
        last = state.last_seen
        ends = last + self.silence if last is not None else None
        for position, fact, matched in steps:
            if not matched:
                continue
            at = fact.occurred_at
            if ends is not None and at >= ends and not state.fired:
                fire = self._fire(state, at)  # a silence the timer did not see end
                if fire is not None:
                    fired.append((position, fire))
            if last is None or at > last:
                last, ends = at, at + self.silence
                state.last_seen, state.last_event, state.fired = at, fact.event_id, False
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
        return Fire(f"silence:{state.last_event}", [str(state.last_event)], details)

    def dump(self, state: Silence) -> dict[str, Any]:
        seen = state.last_seen.isoformat() if state.last_seen else None
        last = str(state.last_event) if state.last_event is not None else None
        return {"last_seen": seen, "last_event": last, "module": state.module, "fired": state.fired}

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
