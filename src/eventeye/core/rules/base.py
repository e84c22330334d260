"""Rules compiled for evaluation: attribute getters, condition predicates, keys.

A fact's attributes are looked up by dotted path (``data.host``, ``items.0``);
``module``, ``type`` and ``source`` name the fact's own fields unless an
attribute of that name exists. Everything here is built once per rule, so
evaluating an event is a few dictionary lookups and comparisons.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules.kinds import Machine, machine_for
from eventeye.core.rules.schemas import Condition, Equals, Exists, In, Range, Regex, Rule

MISSING: Any = object()
MAX_KEY_LENGTH = 255
MAX_REGEX_INPUT = 10_000
FACT_FIELDS = ("module", "type", "source")

Getter = Callable[[Fact], Any]
Predicate = Callable[[Fact], bool]


def getter(path: str) -> Getter:
    """A function reading ``path`` from a fact; ``MISSING`` where there is nothing."""
    head, *rest = path.split(".")
    from_fact = head in FACT_FIELDS
    if not from_fact and not rest:
        return lambda fact: fact.attributes.get(head, MISSING)
    if not from_fact and len(rest) == 1:
        return _nested(head, rest[0])

    def get(fact: Fact) -> Any:
        value = fact.attributes.get(head, MISSING)
        if value is MISSING and from_fact:
            value = getattr(fact, head)
        for part in rest:
            if isinstance(value, dict):
                value = value.get(part, MISSING)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return MISSING
        return value

    return get


def _nested(head: str, name: str) -> Getter:
    """The common ``a.b`` path, without the general loop."""

    def get(fact: Fact) -> Any:
        value = fact.attributes.get(head)
        if type(value) is dict:
            return value.get(name, MISSING)
        return item(value, name)

    return get


def item(value: Any, name: str) -> Any:
    """``value[name]`` of a dict, or of a list when ``name`` is an index in it; else ``MISSING``."""
    if isinstance(value, dict):
        return value.get(name, MISSING)
    if isinstance(value, list) and name.isdigit() and int(name) < len(value):
        return value[int(name)]
    return MISSING


def normal(value: Any, fold: bool) -> Any:
    """A comparable form: booleans apart from numbers, text folded when asked."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("text", value.casefold() if fold else value)
    return ("other", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def value_test(condition: Condition) -> Callable[[Any], bool]:
    if isinstance(condition, Equals):
        expected, fold = normal(condition.value, condition.case_insensitive), condition.case_insensitive
        return lambda value: value is not MISSING and normal(value, fold) == expected
    if isinstance(condition, In):
        fold = condition.case_insensitive
        allowed = frozenset(normal(item, fold) for item in condition.values)
        return lambda value: value is not MISSING and normal(value, fold) in allowed
    if isinstance(condition, Range):
        low = float("-inf") if condition.min is None else condition.min
        high = float("inf") if condition.max is None else condition.max
        return lambda value: isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
    if isinstance(condition, Exists):
        return lambda value: value is not MISSING and value is not None
    return _regex(condition)


def compiled(condition: Regex) -> re.Pattern[str]:
    return re.compile(condition.pattern, re.IGNORECASE if condition.case_insensitive else 0)


def _regex(condition: Regex) -> Callable[[Any], bool]:
    pattern = compiled(condition)

    def test(value: Any) -> bool:
        if type(value) is str and len(value) <= MAX_REGEX_INPUT:
            return pattern.search(value) is not None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return False
        return pattern.search(str(value)[:MAX_REGEX_INPUT]) is not None

    return test


def predicate(condition: Condition) -> Predicate:
    get, test, negate = getter(condition.field), value_test(condition), condition.negate
    if negate:
        return lambda fact: not test(get(fact))
    return lambda fact: test(get(fact))


def all_of(conditions: Sequence[Condition]) -> Predicate:
    """True when every condition holds (always, for none)."""
    tests = tuple(predicate(condition) for condition in conditions)
    if not tests:
        return lambda fact: True
    if len(tests) == 1:
        return tests[0]
    return lambda fact: all(test(fact) for test in tests)


def key_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def key_function(paths: Sequence[str]) -> Callable[[Fact], str | None]:
    """The key of a fact's sequence: ``""`` for a global rule, None when a key attribute is missing."""
    getters = [getter(path) for path in paths]
    if not getters:
        return lambda fact: ""
    if len(getters) == 1:
        return _single_key(getters[0])

    def key(fact: Fact) -> str | None:
        values = [get(fact) for get in getters]
        if any(value is MISSING or value is None for value in values):
            return None
        if len(values) == 1:
            return _bounded(key_text(values[0]))
        return _bounded(orjson.dumps([key_text(value) for value in values]).decode())

    return key


def _single_key(get: Getter) -> Callable[[Fact], str | None]:
    def key(fact: Fact) -> str | None:
        value = get(fact)
        if type(value) is str and len(value) <= MAX_KEY_LENGTH:
            return value
        return single_key(value)

    return key


def single_key(value: Any) -> str | None:
    """The key one attribute's value gives: None when it is missing or null."""
    if value is MISSING or value is None:
        return None
    return _bounded(key_text(value))


SEMANTIC_FIELDS = {"kind", "module", "types", "key", "scope", "when", "count", "window", "buckets", "silence"}


def fingerprint(rule: Rule) -> str:
    """Changes when what the rule computes changes (not for its sinks, severity or description)."""
    semantic = rule.model_dump(mode="json", include=SEMANTIC_FIELDS)
    return hashlib.sha256(orjson.dumps(semantic, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class CompiledRule:
    """A rule ready to evaluate: filters, key, condition and its kind's state machine."""

    __slots__ = ("rule", "name", "fingerprint", "types", "scope", "when", "key_of", "machine")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.name = rule.name
        self.fingerprint = fingerprint(rule)
        self.types = frozenset(rule.types) or None
        self.scope = all_of(rule.scope)
        self.when = all_of(rule.when)
        self.key_of = key_function(rule.key)
        self.machine: Machine = machine_for(rule)

    def selects(self, fact: Fact) -> bool:
        """The fact is one this rule looks at (module is checked by the caller's index)."""
        return (self.types is None or fact.type in self.types) and self.scope(fact)
