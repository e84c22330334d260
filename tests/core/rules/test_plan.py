"""Property-based: batched evaluation agrees with evaluating each rule on each fact alone.

The planner reads a batch a (module, type) and a column at a time, rate rules
that differ only in their threshold advance one window together, and
consecutive rules that differ only in their count follow one streak; all must
give exactly what the per-fact functions and one machine per rule give.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules.base import CompiledRule
from eventeye.core.rules.groups import RuleGroup, States
from eventeye.core.rules.kinds import Consecutive, Rate
from eventeye.core.rules.plan import Planner
from eventeye.core.rules.schemas import Rule
from eventeye.core.rules.steps import Steps
from tests.core.rules.helpers import fact

FAST = settings(max_examples=300, deadline=None)

TEXTS = ["a", "A", "b", "/admin/1", "x" * 300]
values = st.one_of(
    st.sampled_from(TEXTS),
    st.integers(-2, 2),
    st.booleans(),
    st.none(),
    st.floats(-2, 2, allow_nan=False),
    st.lists(st.sampled_from(TEXTS), max_size=2),
    st.dictionaries(st.sampled_from(["b", "c", "0"]), st.sampled_from(TEXTS), max_size=2),
)
FIELDS = ["a", "a.b", "a.0", "a.b.c", "type", "source", "z"]


@st.composite
def facts(draw: st.DrawFn) -> list[Fact]:
    items = []
    for index in range(draw(st.integers(0, 30))):
        attributes = draw(st.dictionaries(st.sampled_from(["a", "type", "k", "j"]), values, max_size=4))
        made = fact(
            float(draw(st.integers(0, 5))) + index / 100,
            module=draw(st.sampled_from(["web", "plans"])),
            type=draw(st.sampled_from(["t1", "t2", "t3"])),
            source=draw(st.sampled_from(["s1", "s2"])),
        )
        items.append(replace(made, attributes=attributes))  # "type" may be an attribute as well
    return items


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    field, negate = draw(st.sampled_from(FIELDS)), draw(st.booleans())
    fold = draw(st.booleans())
    op = draw(st.sampled_from(["equals", "in", "range", "exists", "regex"]))
    scalar = st.one_of(st.sampled_from(TEXTS[:4]), st.integers(-2, 2), st.booleans())
    if op == "equals":
        return {"field": field, "op": op, "value": draw(scalar), "case_insensitive": fold, "negate": negate}
    if op == "in":
        listed = draw(st.lists(scalar, min_size=1, max_size=3))
        return {"field": field, "op": op, "values": listed, "case_insensitive": fold, "negate": negate}
    if op == "range":
        return {"field": field, "op": op, "min": -1, "max": draw(st.integers(-1, 2)), "negate": negate}
    if op == "exists":
        return {"field": field, "op": op, "negate": negate}
    # Among them: a group reference and a global flag, which the planner cannot combine with the others.
    pattern = draw(st.sampled_from(["^/admin", "a", "^x+$", "1", r"(a)\1", "(?i)b"]))
    return {"field": field, "op": op, "pattern": pattern, "case_insensitive": fold, "negate": negate}


@st.composite
def rules(draw: st.DrawFn) -> list[CompiledRule]:
    found = []
    for index in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["match", "consecutive", "rate", "absence"]))
        body: dict[str, Any] = {
            "name": f"r{index}",
            "kind": kind,
            "module": draw(st.sampled_from([None, "web"])),
            "types": draw(st.lists(st.sampled_from(["t1", "t2"]), max_size=2)),
            "key": draw(st.lists(st.sampled_from(["k", "j", "a.b", "source"]), max_size=2)),
            "scope": draw(st.lists(conditions(), max_size=1)),
            "when": draw(st.lists(conditions(), max_size=2)),
        }
        body.update({"count": 2} if kind in ("consecutive", "rate") else {})
        body.update({"window": 5} if kind == "rate" else {})
        body.update({"silence": 5} if kind == "absence" else {})
        found.append(CompiledRule(Rule.model_validate(body)))
    return found


def reference(rules: list[CompiledRule], batch: list[Fact]) -> dict[tuple[str, str], list[tuple[int, Fact, bool]]]:
    """Each rule on each fact alone: the steps of each (rule, key)."""
    steps: dict[tuple[str, str], list[tuple[int, Fact, bool]]] = {}
    for rule in rules:
        for position, item in enumerate(batch):
            if rule.rule.module not in (None, item.module) or not rule.selects(item):
                continue
            key = rule.key_of(item)
            matched = rule.when(item)
            if key is not None and (matched or rule.rule.kind == "consecutive"):
                steps.setdefault((rule.name, key), []).append((position, item, matched))
    return steps


@FAST
@given(rules=rules(), batch=facts())
def test_the_planner_gives_each_rule_the_steps_it_would_see_alone(rules: list[CompiledRule], batch: list[Fact]) -> None:
    planned: dict[tuple[str, str], list[tuple[int, Fact, bool]]] = {}
    for (selector, key), steps in Planner(rules).collect(batch).items():
        for rule in selector.rules:
            assert (rule.name, key) not in planned
            planned[(rule.name, key)] = list(steps)
    assert planned == reference(rules, batch)


def test_a_timeline_holds_the_steps_of_every_type_that_fed_a_key() -> None:
    rule = CompiledRule(Rule.model_validate({"name": "r", "kind": "rate", "key": ["app"], "count": 2, "window": 60}))
    batch = [fact(float(i), type=kind, app="a") for i, kind in enumerate(["t1", "t2", "t1", "t3"])]
    (steps,) = Planner([rule]).collect(batch).values()
    line = steps.timeline()
    assert line is not None
    assert (line.positions, line.facts) == ([0, 1, 2, 3], batch)


PATHS = ["/home", "/admin/users", "/api/v2/items", "/LOGIN", "/x/x", "/Cart", "/nothing"]


@pytest.mark.parametrize("paths", [PATHS, ["/home", "/nothing"], ["/Cart"], ["/x/x", "/home"]])
def test_regular_expressions_on_one_field_screened_together_select_as_each_alone(paths: list[str]) -> None:
    patterns = ["^/admin", "^/api/v[0-9]", "(?i)^/login", r"(/x)\1", "cart", "nothing$"]
    rules = [
        CompiledRule(
            Rule.model_validate(
                {
                    "name": f"r{i}",
                    "kind": "match",
                    "when": [{"field": "path", "op": "regex", "pattern": pattern, "case_insensitive": i == 4}],
                }
            )
        )
        for i, pattern in enumerate(patterns)
    ]
    planner = Planner(rules)
    batch = [fact(float(i), path=path) for i, path in enumerate(paths)]
    planned = {
        (rule.name, key): list(steps)
        for (selector, key), steps in planner.collect(batch).items()
        for rule in selector.rules
    }
    assert planned == reference(rules, batch)
    # The four that combine share one screen; the reference and the global flag are tested alone.
    screen = planner.plan("web", "page interaction/pageview").screens["path"]
    assert {text for text, _ in screen.members} == {"^/admin", "^/api/v[0-9]", "cart", "nothing$"}


def timed(batches: list[list[tuple[int, bool]]]) -> list[Steps]:
    """Each batch's steps from (seconds after the previous event, matched)."""
    at, made = 0, []
    for batch in batches:
        steps = Steps()
        for position, (delta, matched) in enumerate(batch):
            at += delta
            steps.append((position, fact(float(at)), matched))
        made.append(steps)
    return made


@FAST
@given(
    counts=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    buckets=st.integers(1, 4),
    batches=st.lists(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=12), max_size=6),
    diverge=st.booleans(),
)
def test_threshold_variants_sharing_a_window_fire_as_each_alone(
    counts: list[int], buckets: int, batches: list[list[tuple[int, bool]]], diverge: bool
) -> None:
    # Diverging: one variant's state fell behind (as a rule added later), so it runs apart.
    shared_run_agrees([Rate(count, timedelta(seconds=buckets), buckets) for count in counts], batches, diverge)


@FAST
@given(
    counts=st.lists(st.integers(1, 8), min_size=2, max_size=4),
    batches=st.lists(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=12), max_size=6),
    diverge=st.booleans(),
)
def test_count_variants_following_one_streak_fire_as_each_alone(
    counts: list[int], batches: list[list[tuple[int, bool]]], diverge: bool
) -> None:
    # Diverging: one variant's streak started later (as a rule added later), so it runs apart.
    shared_run_agrees([Consecutive(count) for count in counts], batches, diverge)


def shared_run_agrees(
    machines: list[Rate] | list[Consecutive], batches: list[list[tuple[int, bool]]], diverge: bool
) -> None:
    """Variants run together fire and end as each alone, and leave the states they were given as they were."""
    alone = [machine.new() for machine in machines]
    shared = [machine.new() for machine in machines]
    for number, steps in enumerate(timed(batches)):
        if diverge and number == 1:
            shared[0] = machines[0].new()
            alone[0] = machines[0].new()
        expected = [machine.run(state, steps) for machine, state in zip(machines, alone, strict=True)]
        before = orjson.dumps([m.dump(s) for m, s in zip(machines, shared, strict=True)])  # as stored: a copy
        results = machines[0].run_shared(machines, shared, steps)
        assert orjson.dumps([m.dump(s) for m, s in zip(machines, shared, strict=True)]) == before
        shared, got = [state for state, _ in results], [fired for _, fired in results]
        assert [[(p, f.trigger, list(f.event_ids), f.details) for p, f in fired] for fired in got] == [
            [(p, f.trigger, list(f.event_ids), f.details) for p, f in fired] for fired in expected
        ]
        assert [m.dump(s) for m, s in zip(machines, shared, strict=True)] == [
            m.dump(s) for m, s in zip(machines, alone, strict=True)
        ]


@FAST
@given(
    counts=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    batches=st.lists(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=12), max_size=6),
    restarts=st.sets(st.integers(0, 5)),
    kind=st.sampled_from([{"kind": "rate", "window": 2, "buckets": 2}, {"kind": "consecutive"}]),
)
def test_a_group_stored_and_loaded_between_batches_fires_as_its_rules_alone(
    counts: list[int], batches: list[list[tuple[int, bool]]], restarts: set[int], kind: dict[str, Any]
) -> None:
    rules = [
        CompiledRule(Rule.model_validate({"name": f"r{i}", "count": count, **kind})) for i, count in enumerate(counts)
    ]
    group = RuleGroup(b"selector", rules)
    alone = [rule.machine.new() for rule in rules]
    states: States = {}
    for number, steps in enumerate(timed(batches)):
        if number in restarts:  # through the row's JSON, as after a restart
            states = group.load(orjson.loads(orjson.dumps(group.dump(states))))
        states, fired = group.run(states, steps)
        expected = [
            (position, rule.name, fire.details)
            for rule, state in zip(rules, alone, strict=True)
            for position, fire in rule.machine.run(state, steps)
        ]
        assert sorted((p, rule.name, f.details) for p, rule, f in fired) == sorted(expected)
