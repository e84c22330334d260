"""Evaluation plans: which rules a fact reaches, with the work rules have in common done once.

Rules that select events alike (same module, types, key, scope and ``when``,
and the same use of events that do not match) share one *selector*: a fact
is tested and keyed once for all of them, and they read the same steps. A
selector whose only test is one ``equals`` or ``in`` condition is not tried
at all: facts find it by the value of that field, in a table. A plan lists,
for one (module, type), the selectors to try and the tables to look in; it
is built on first use, so a fact no rule looks at costs one lookup.

A batch is evaluated a (module, type) at a time and a column at a time (see
``columns``): each field is read once for all the facts of that type, and
each selector tests whole columns, keying only the facts it keeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import compress, groupby, repeat
from operator import and_, attrgetter, eq, itemgetter
from typing import Any

import orjson

from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules.base import MISSING, CompiledRule, compiled, normal
from eventeye.core.rules.columns import Columns, column_test, holding, keys, screen_of
from eventeye.core.rules.schemas import Equals, In, Regex
from eventeye.core.rules.steps import Steps

Groups = dict[tuple["Selector", str], Steps]


class Selector:
    """The rules that select events alike, and how they do it."""

    __slots__ = (
        "signature",
        "module",
        "types",
        "scope",
        "when",
        "key",
        "key_of",
        "keeps_misses",
        "stateful",
        "rules",
        "index",
        "patterns",
    )

    def __init__(self, rule: CompiledRule, signature: bytes) -> None:
        self.signature = signature
        self.module = rule.rule.module
        self.types = rule.types
        self.scope = tuple((condition.field, column_test(condition)) for condition in rule.rule.scope)
        self.when = tuple((condition.field, column_test(condition)) for condition in rule.rule.when)
        self.key = tuple(rule.rule.key)
        self.key_of = rule.key_of
        self.keeps_misses = rule.rule.kind == "consecutive"
        self.stateful = rule.machine.stateful
        self.rules: list[CompiledRule] = []
        self.index = _index_of(rule) if not self.keeps_misses else None
        conditions = (*rule.rule.scope, *rule.rule.when)
        self.patterns = tuple((item.field, compiled(item)) for item in conditions if isinstance(item, Regex))

    def applies(self, module: str, type: str) -> bool:
        return self.module in (None, module) and (self.types is None or type in self.types)


def _index_of(rule: CompiledRule) -> tuple[str, bool, list[Any]] | None:
    """(field, case-insensitive, values) when the rule tests one equality and nothing else."""
    definition = rule.rule
    if definition.scope or len(definition.when) != 1:
        return None
    condition = definition.when[0]
    if condition.negate or not isinstance(condition, Equals | In):
        return None
    values = [condition.value] if isinstance(condition, Equals) else list(condition.values)
    return condition.field, condition.case_insensitive, values


def _signature(rule: CompiledRule) -> bytes:
    selection = rule.rule.model_dump(mode="json", include={"module", "types", "key", "scope", "when"})
    selection["misses"] = rule.rule.kind == "consecutive"
    selection["stateful"] = rule.machine.stateful
    return orjson.dumps(selection, option=orjson.OPT_SORT_KEYS)


class Plan:
    """What to do with a fact of one (module, type): selectors to try, tables to look in."""

    __slots__ = ("tried", "tables", "screens")

    def __init__(self, selectors: Sequence[Selector]) -> None:
        self.tried = tuple(selector for selector in selectors if selector.index is None)
        patterns: dict[str, list[re.Pattern[str]]] = {}
        for selector in self.tried:
            for field, pattern in selector.patterns:
                patterns.setdefault(field, []).append(pattern)
        screens = {field: screen_of(found) for field, found in patterns.items()}
        self.screens = {field: screen for field, screen in screens.items() if screen is not None}
        tables: dict[tuple[str, bool], dict[Any, list[Selector]]] = {}
        for selector in selectors:
            if selector.index is not None:
                field, fold, values = selector.index
                table = tables.setdefault((field, fold), {})
                for value in values:
                    found = table.setdefault(normal(value, fold), [])
                    if selector not in found:
                        found.append(selector)
        self.tables = tuple(Table(field, fold, table) for (field, fold), table in tables.items())


class Table:
    """Selectors found by the value of one field; text is looked up as it is when not folded."""

    __slots__ = ("field", "fold", "entries", "text")

    def __init__(self, field: str, fold: bool, entries: dict[Any, list[Selector]]) -> None:
        self.field, self.fold, self.entries = field, fold, entries
        self.text = {} if fold else {value: found for (tag, value), found in entries.items() if tag == "text"}

    def look_up(self, column: list[Any]) -> list[list[Selector] | None]:
        text, entries, fold = self.text, self.entries, self.fold
        if not fold and set(map(type, column)) == {str}:
            return list(map(text.get, column))
        if fold:
            return [None if value is MISSING else entries.get(normal(value, True)) for value in column]
        return [
            text.get(value) if type(value) is str else None if value is MISSING else entries.get(normal(value, False))
            for value in column
        ]


_kind, _module, _type = attrgetter("module", "type"), attrgetter("module"), attrgetter("type")


class Planner:
    """Groups a batch's facts by (selector, key), in order."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        selectors: dict[bytes, Selector] = {}
        for rule in rules:
            signature = _signature(rule)
            if signature not in selectors:
                selectors[signature] = Selector(rule, signature)
            selectors[signature].rules.append(rule)
        self.selectors = list(selectors.values())
        self._plans: dict[tuple[str, str], Plan] = {}

    def plan(self, module: str, type: str) -> Plan:
        found = self._plans.get((module, type))
        if found is None:
            found = Plan([selector for selector in self.selectors if selector.applies(module, type)])
            self._plans[(module, type)] = found
        return found

    def collect(self, facts: Sequence[Fact]) -> Groups:
        groups: Groups = {}
        fed: dict[Selector, int] = {}
        for kind, positions in _by_kind(facts):
            plan = self.plan(*kind)
            if not plan.tried and not plan.tables:
                continue
            chosen = list(map(facts.__getitem__, positions)) if len(positions) < len(facts) else facts
            columns = Columns(chosen, plan.screens)
            for selector in plan.tried:
                _try(groups, selector, positions, columns)
                fed[selector] = fed.get(selector, 0) + 1
            for table in plan.tables:
                for selector in _look_up(groups, table, positions, columns):
                    fed[selector] = fed.get(selector, 0) + 1
        for (selector, _), steps in groups.items():
            if fed.get(selector, 0) > 1:  # steps of several kinds, appended a kind at a time
                steps.sort(key=_position)
        return groups


_position = itemgetter(0)


def _by_kind(facts: Sequence[Fact]) -> list[tuple[tuple[str, str], list[int]]]:
    """The positions of the facts of each (module, type), in order."""
    modules = set(map(_module, facts))
    if len(modules) != 1:
        return _by_value(list(map(_kind, facts)))
    module = next(iter(modules))  # a batch usually comes from one module: its types alone tell the kinds apart
    return [((module, type), positions) for type, positions in _by_value(list(map(_type, facts)))]


def _by_value(values: list[Any]) -> list[tuple[Any, list[int]]]:
    """The positions of each distinct value, in order."""
    distinct = set(values)
    if len(distinct) == 1:
        return [(values[0], list(range(len(values))))]
    if len(distinct) <= FEW_KEYS:  # a few of them: select each one's positions in C
        every = range(len(values))
        return [(value, list(compress(every, map(eq, values, repeat(value))))) for value in distinct]
    order = sorted(range(len(values)), key=values.__getitem__)
    return [(value, list(found)) for value, found in groupby(order, key=values.__getitem__)]


def _try(groups: Groups, selector: Selector, positions: list[int], columns: Columns) -> None:
    """Test a selector on a kind's facts; append the steps of those it keeps."""
    facts = columns.facts
    kept = holding(selector.scope, columns)
    when = holding(selector.when, columns)
    if when is not None and not selector.keeps_misses:
        kept = when if kept is None else list(map(and_, kept, when))
        when = None
    if kept is None:  # every fact: key them a column at a time
        _append(groups, selector, keys(selector.key, selector.key_of, columns), positions, facts, when)
        return
    for row in compress(range(len(facts)), kept):  # those the conditions kept
        if (key := selector.key_of(facts[row])) is not None:
            _steps(groups, selector, key).append((positions[row], facts[row], True if when is None else when[row]))


FEW_KEYS = 8


def _append(
    groups: Groups,
    selector: Selector,
    named: list[str | None],
    positions: list[int],
    facts: Sequence[Fact],
    when: list[bool] | None,
) -> None:
    """Append every fact's step to its key's steps (``named``: each fact's key)."""
    distinct: set[str] = {key for key in set(named) if key is not None}
    if len(distinct) > FEW_KEYS:
        for row, key in enumerate(named):
            if key is not None:
                _steps(groups, selector, key).append((positions[row], facts[row], True if when is None else when[row]))
        return
    if when is None:  # every step matches: given as columns, the timeline needs no unpacking
        if len(distinct) == 1 and None not in named:
            _steps(groups, selector, distinct.pop()).extend_matched(positions, list(facts))
            return
        for key in distinct:  # a few keys (an app, a host): select each key's rows in C
            chosen = list(map(eq, named, repeat(key)))
            _steps(groups, selector, key).extend_matched(
                list(compress(positions, chosen)), list(compress(facts, chosen))
            )
        return
    steps = list(zip(positions, facts, when, strict=True))
    for key in distinct:
        _steps(groups, selector, key).extend(compress(steps, map(eq, named, repeat(key))))


def _look_up(groups: Groups, table: Table, positions: list[int], columns: Columns) -> set[Selector]:
    """Append the steps of the facts whose value a table lists; returns the selectors fed."""
    facts = columns.facts
    fed: set[Selector] = set()
    for row, found in enumerate(table.look_up(columns.get(table.field))):
        if found is None:
            continue
        for selector in found:
            if (key := selector.key_of(facts[row])) is not None:
                _steps(groups, selector, key).append((positions[row], facts[row], True))
                fed.add(selector)
    return fed


def _steps(groups: Groups, selector: Selector, key: str) -> Steps:
    found = groups.get((selector, key))
    if found is None:
        found = groups[(selector, key)] = Steps()
    return found
