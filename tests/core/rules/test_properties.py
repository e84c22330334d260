"""Property-based: the state machines (and the engine with its store) agree with the reference implementations."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.rules.kinds import Absence, Consecutive, Machine, Rate
from eventeye.core.rules.steps import Steps
from tests.core.rules import references
from tests.core.rules.conftest import BuildEngine, process, stored_alerts
from tests.core.rules.helpers import T0, fact

FAST = settings(max_examples=300, deadline=None)
WITH_DATABASE = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run(machine: Machine, steps: list[tuple[Any, bool]], restarts: set[int]) -> list[int]:
    """Indices of the facts that fired, reloading the state from its JSON before each index in ``restarts``."""
    state = machine.new()
    fired = []
    for index, (subject, matched) in enumerate(steps):
        if index in restarts:
            state = machine.load(machine.dump(state))
        if machine.step(state, subject, matched) is not None:
            fired.append(index)
    return fired


restart_points = st.sets(st.integers(0, 80), max_size=10)


@st.composite
def timeline(draw: st.DrawFn, *, max_size: int = 80) -> list[tuple[int, bool]]:
    """(second, matched) steps that mostly move forward in time, sometimes back (late events)."""
    steps = draw(st.lists(st.tuples(st.integers(-3, 4), st.booleans()), max_size=max_size))
    at, result = 0, []
    for delta, matched in steps:
        at = max(0, at + delta)
        result.append((at, matched))
    return result


@FAST
@given(count=st.integers(1, 6), matched=st.lists(st.booleans(), max_size=80), restarts=restart_points)
def test_consecutive_agrees(count: int, matched: list[bool], restarts: set[int]) -> None:
    steps = [(fact(i), m) for i, m in enumerate(matched)]
    assert run(Consecutive(count), steps, restarts) == references.consecutive(count, matched)


@FAST
@given(
    count=st.integers(1, 5),
    buckets=st.integers(1, 6),
    steps=timeline(),
    restarts=restart_points,
)
def test_rate_agrees(count: int, buckets: int, steps: list[tuple[int, bool]], restarts: set[int]) -> None:
    width = timedelta(seconds=1)
    machine = Rate(count, width * buckets, buckets)
    facts = [(fact(float(slice_number)), m) for slice_number, m in steps]
    offset = machine.bucket(T0)
    expected = references.rate(count, buckets, [(offset + slice_number, m) for slice_number, m in steps])
    assert run(machine, facts, restarts) == expected


@FAST
@given(
    count=st.integers(1, 5),
    steps=timeline(max_size=60),
)
def test_rate_fires_only_with_more_than_n_in_the_window(count: int, steps: list[tuple[int, bool]]) -> None:
    window = timedelta(seconds=10)
    machine = Rate(count, window, 5)
    state = machine.new()
    seen: list[int] = []
    for at, matched in steps:
        fired = machine.step(state, fact(float(at)), matched)
        if matched:
            seen.append(at)
        if fired is not None:
            latest = max(seen)
            assert len([t for t in seen if latest - 10 < t <= latest]) > count


@st.composite
def operations(draw: st.DrawFn) -> list[references.Seen | references.Check]:
    """Events and timer checks, mostly forward in time."""
    steps = draw(timeline(max_size=60))
    checks = draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps)))
    return [
        references.Check(at) if check else references.Seen(at, matched)
        for (at, matched), check in zip(steps, checks, strict=True)
    ]


@FAST
@given(silence=st.integers(1, 20), ops=operations(), restarts=restart_points)
def test_absence_agrees(silence: int, ops: list[references.Seen | references.Check], restarts: set[int]) -> None:
    machine = Absence(timedelta(seconds=silence))
    state = machine.new()
    fired = []
    last_event: dict[str, int] = {}
    for index, operation in enumerate(ops):
        if index in restarts:
            state = machine.load(machine.dump(state))
        if isinstance(operation, references.Seen):
            subject = fact(float(operation.at))
            last_event[str(subject.event_id)] = index
            result = machine.step(state, subject, operation.matched)
        else:
            result = machine.check(state, T0 + timedelta(seconds=operation.at))
        if result is not None:
            fired.append(last_event[result.event_ids[0]])
    assert fired == references.absence(silence, ops)


# Through the engine and the database: batches, restarts (a new engine, i.e. an empty cache) and keys.


@st.composite
def batches(draw: st.DrawFn, *, with_checks: bool = False) -> list[list[tuple[str, int, bool]] | references.Check]:
    """Batches of (key, second, matched), and with ``with_checks`` timer checks between them."""
    steps = draw(timeline(max_size=40))
    result: list[list[tuple[str, int, bool]] | references.Check] = [[]]
    for at, matched in steps:
        current = result[-1]
        assert isinstance(current, list)
        current.append((draw(st.sampled_from(["a", "b"])), at, matched))
        if draw(st.integers(0, 4)) == 0:
            if with_checks and draw(st.booleans()):
                result.append(references.Check(at + draw(st.integers(0, 30))))
            result.append([])
    return [batch for batch in result if batch]


@WITH_DATABASE
@given(count=st.integers(1, 4), batches=batches(), restarts=st.sets(st.integers(0, 10)))
async def test_engine_consecutive_agrees(
    engine: AsyncEngine, build: BuildEngine, count: int, batches: list[list[tuple[str, int, bool]]], restarts: set[int]
) -> None:
    name = f"p-{uuid.uuid4().hex[:12]}"
    definition = {
        "name": name,
        "kind": "consecutive",
        "key": ["camera"],
        "when": [{"field": "person", "op": "equals", "value": True}],
        "count": count,
    }
    rules = build(definition)
    order: dict[str, list[tuple[str, bool]]] = {"a": [], "b": []}
    for index, batch in enumerate(batches):
        if index in restarts:
            rules = build(definition)
        facts = [fact(float(at), module="activity", camera=camera, person=matched) for camera, at, matched in batch]
        facts.sort(key=lambda item: item.occurred_at)  # the order the processor hands them over in
        for item in facts:
            order[item.attributes["camera"]].append((str(item.event_id), item.attributes["person"]))
        await process(rules, facts)
    expected = set()
    for camera, sequence in order.items():
        for index in references.consecutive(count, [matched for _, matched in sequence]):
            expected.add((camera, sequence[index][0]))
    found = {(alert.key, alert.event_ids[-1]) for alert in await stored_alerts(engine, rule=name)}
    assert found == expected


@WITH_DATABASE
@given(count=st.integers(1, 4), buckets=st.integers(1, 5), batches=batches(), restarts=st.sets(st.integers(0, 10)))
async def test_engine_rate_agrees(
    engine: AsyncEngine,
    build: BuildEngine,
    count: int,
    buckets: int,
    batches: list[list[tuple[str, int, bool]]],
    restarts: set[int],
) -> None:
    name = f"p-{uuid.uuid4().hex[:12]}"
    definition = {
        "name": name,
        "kind": "rate",
        "key": ["app"],
        "when": [{"field": "error", "op": "equals", "value": True}],
        "count": count,
        "window": buckets * 2,
        "buckets": buckets,
    }
    rules = build(definition)
    order: dict[str, list[tuple[str, int, bool]]] = {"a": [], "b": []}
    for index, batch in enumerate(batches):
        if index in restarts:
            rules = build(definition)
        facts = sorted(
            (fact(float(at), app=app, error=matched) for app, at, matched in batch), key=lambda item: item.occurred_at
        )
        for item in facts:
            at = int((item.occurred_at - T0).total_seconds())
            order[item.attributes["app"]].append((str(item.event_id), at, item.attributes["error"]))
        await process(rules, facts)
    offset = Rate(count, timedelta(seconds=2 * buckets), buckets).bucket(T0)
    expected = set()
    for app, sequence in order.items():
        steps = [(offset + at // 2, matched) for _, at, matched in sequence]
        for index in references.rate(count, buckets, steps):
            expected.add((app, sequence[index][0]))
    found = {(alert.key, alert.event_ids[-1]) for alert in await stored_alerts(engine, rule=name)}
    assert found == expected


@WITH_DATABASE
@given(silence=st.integers(1, 20), steps=batches(with_checks=True), restarts=st.sets(st.integers(0, 10)))
async def test_engine_absence_agrees(
    engine: AsyncEngine,
    build: BuildEngine,
    silence: int,
    steps: list[list[tuple[str, int, bool]] | references.Check],
    restarts: set[int],
) -> None:
    name = f"p-{uuid.uuid4().hex[:12]}"
    definition = {
        "name": name,
        "kind": "absence",
        "key": ["app"],
        "when": [{"field": "polled", "op": "equals", "value": True}],
        "silence": silence,
    }
    rules = build(definition)
    operations: dict[str, list[references.Seen | references.Check]] = {"a": [], "b": []}
    ids: dict[str, list[str | None]] = {"a": [], "b": []}
    for index, step in enumerate(steps):
        if index in restarts:
            rules = build(definition)
        if isinstance(step, references.Check):
            for app in operations:
                operations[app].append(step)
                ids[app].append(None)
            await rules.check_timers(T0 + timedelta(seconds=step.at))
            continue
        facts = sorted((fact(float(at), app=app, polled=m) for app, at, m in step), key=lambda item: item.occurred_at)
        for item in facts:
            at = int((item.occurred_at - T0).total_seconds())
            operations[item.attributes["app"]].append(references.Seen(at, item.attributes["polled"]))
            ids[item.attributes["app"]].append(str(item.event_id))
        await process(rules, facts)
    expected = {(app, ids[app][index]) for app in operations for index in references.absence(silence, operations[app])}
    found = {(alert.key, alert.event_ids[0]) for alert in await stored_alerts(engine, rule=name)}
    assert found == expected


# Whole batches through ``run``: a batch's steps come in time order, which lets rate and absence skip ahead.


def in_batches(steps: list[tuple[int, bool]], cuts: list[int]) -> list[list[tuple[int, bool]]]:
    """Cut ``steps`` into batches at ``cuts``, each sorted by time as the processor hands them over."""
    bounds = sorted({0, len(steps), *(cut % (len(steps) + 1) for cut in cuts)})
    return [sorted(steps[a:b], key=lambda step: step[0]) for a, b in zip(bounds, bounds[1:], strict=False)]


def run_batches(machine: Machine, batches: list[list[tuple[int, bool]]]) -> tuple[list[Any], list[Any], list[str]]:
    """What fired ((position, fire), in processing order), the steps in that order and their event ids."""
    state, fired, order, ids = machine.new(), [], [], []
    for batch in batches:
        steps = Steps()
        for at, matched in batch:
            subject = fact(float(at))
            steps.append((len(order), subject, matched))
            order.append(references.Seen(at, matched))
            ids.append(str(subject.event_id))
        fired += machine.run(state, steps)
        state = machine.load(machine.dump(state))
    return fired, order, ids


@FAST
@given(
    count=st.integers(1, 5),
    buckets=st.integers(1, 6),
    steps=timeline(),
    cuts=st.lists(st.integers(0, 80), max_size=8),
)
def test_rate_agrees_over_batches(count: int, buckets: int, steps: list[tuple[int, bool]], cuts: list[int]) -> None:
    machine = Rate(count, timedelta(seconds=buckets), buckets)
    fired, order, _ = run_batches(machine, in_batches(steps, cuts))
    offset = machine.bucket(T0)
    expected = references.rate(count, buckets, [(offset + seen.at, seen.matched) for seen in order])
    assert [position for position, _ in fired] == expected


@FAST
@given(silence=st.integers(1, 20), steps=timeline(), cuts=st.lists(st.integers(0, 80), max_size=8))
def test_absence_agrees_over_batches(silence: int, steps: list[tuple[int, bool]], cuts: list[int]) -> None:
    machine = Absence(timedelta(seconds=silence))
    fired, order, ids = run_batches(machine, in_batches(steps, cuts))
    # A fire names the event the silence followed: compare those events' places.
    assert [ids.index(fire.event_ids[0]) for _, fire in fired] == references.absence(silence, order)
