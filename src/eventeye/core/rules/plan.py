"""Evaluation plans: which rules a fact reaches, with the work rules have in common done once.

Rules that select events alike (same module, types, key, scope and ``when``,
and the same use of events that do not match) share one *selector*: a fact
is tested and keyed once for all of them, and they read the same steps. A
selector whose only test is one ``equals`` or ``in`` condition is not tried
at all: facts find it by the value of that field, in a table. A plan lists,
for one (module, type), the selectors to try and the tables to look in; it
is built on first use, so a fact no rule looks at costs one lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules.base import MISSING, CompiledRule, Getter, getter, normal
from eventeye.core.rules.schemas import Equals, In
from eventeye.core.rules.steps import Steps

Groups = dict[tuple["Selector", str], Steps]


class Selector:
    """The rules that select events alike, and how they do it."""

    __slots__ = ("module", "types", "scope", "when", "key_of", "keeps_misses", "stateful", "rules", "index")

    def __init__(self, rule: CompiledRule) -> None:
        self.module = rule.rule.module
        self.types = rule.types
        # None for no condition at all: not even a call per fact.
        self.scope = rule.scope if rule.rule.scope else None
        self.when = rule.when if rule.rule.when else None
        self.key_of = rule.key_of
        self.keeps_misses = rule.rule.kind == "consecutive"
        self.stateful = rule.machine.stateful
        self.rules: list[CompiledRule] = []
        self.index = _index_of(rule) if not self.keeps_misses else None

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

    __slots__ = ("tried", "tables")

    def __init__(self, selectors: Sequence[Selector]) -> None:
        self.tried = tuple(selector for selector in selectors if selector.index is None)
        tables: dict[tuple[str, bool], dict[Any, list[Selector]]] = {}
        for selector in selectors:
            if selector.index is not None:
                field, fold, values = selector.index
                table = tables.setdefault((field, fold), {})
                for value in values:
                    found = table.setdefault(normal(value, fold), [])
                    if selector not in found:
                        found.append(selector)
        self.tables: tuple[tuple[Getter, bool, dict[Any, list[Selector]]], ...] = tuple(
            (getter(field), fold, table) for (field, fold), table in tables.items()
        )


class Planner:
    """Groups a batch's facts by (selector, key), in order."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        selectors: dict[bytes, Selector] = {}
        for rule in rules:
            selectors.setdefault(_signature(rule), Selector(rule)).rules.append(rule)
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
        plans = self._plans
        for position, fact in enumerate(facts):
            plan = plans.get((fact.module, fact.type)) or self.plan(fact.module, fact.type)
            for selector in plan.tried:
                if selector.scope is not None and not selector.scope(fact):
                    continue
                if (key := selector.key_of(fact)) is not None:
                    matched = selector.when is None or selector.when(fact)
                    if matched or selector.keeps_misses:
                        _steps(groups, selector, key).append((position, fact, matched))
            for get, fold, table in plan.tables:
                value = get(fact)
                if value is MISSING:
                    continue
                for selector in table.get(normal(value, fold), ()):
                    if (key := selector.key_of(fact)) is not None:
                        _steps(groups, selector, key).append((position, fact, True))
        return groups


def _steps(groups: Groups, selector: Selector, key: str) -> Steps:
    found = groups.get((selector, key))
    if found is None:
        found = groups[(selector, key)] = Steps()
    return found
