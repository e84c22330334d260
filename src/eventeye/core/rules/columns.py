"""Conditions and keys evaluated a column at a time over a batch's facts.

A batch's facts of one (module, type) are read field by field: each field
path is read once for all of them (by ``dict.get`` mapped in C where the
path allows), and each condition tests a whole column. For the common
cases (a regular expression over text, equality with a text) the test runs
in C too. Results are the same as the per-fact functions of ``base``, which
remain the reference for every value a fast path does not cover.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from operator import and_, attrgetter, eq
from typing import Any

from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules.base import (
    FACT_FIELDS,
    MAX_KEY_LENGTH,
    MAX_REGEX_INPUT,
    MISSING,
    compiled,
    getter,
    item,
    single_key,
    value_test,
)
from eventeye.core.rules.schemas import Condition, Equals, Regex

Column = list[Any]
ColumnTest = Callable[["Columns", str], list[bool]]
"""A condition over the values of a path: (columns, path) -> whether each holds."""

_attributes = attrgetter("attributes")
_get: Any = dict.get  # mapped over columns: the C method, not one call of a Python function per value


PatternKey = tuple[str, int]
"""A regular expression's text and flags."""


class Screen:
    """Several regular expressions on one field as one: where it finds nothing, none of them can."""

    __slots__ = ("search", "members")

    def __init__(self, search: Callable[[str], Any], members: frozenset[PatternKey]) -> None:
        self.search, self.members = search, members


_REFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")  # group references would point elsewhere once combined


def screen_of(patterns: Iterable[re.Pattern[str]]) -> Screen | None:
    """One expression matching where any of ``patterns`` does, or None for fewer than two that combine."""
    parts: dict[PatternKey, str] = {}
    for pattern in patterns:
        text = pattern.pattern
        part = f"(?i:{text})" if pattern.flags & re.IGNORECASE else f"(?:{text})"
        if _REFERENCE.search(text) is None and _compiles(part):  # global inline flags do not compile inside
            parts[(text, pattern.flags)] = part
    if len(parts) < 2 or not _compiles(combined := "|".join(parts.values())):
        return None
    return Screen(re.compile(combined).search, frozenset(parts))


def _compiles(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    return True


class Columns:
    """The values of field paths over some facts, each path read once."""

    __slots__ = ("facts", "screens", "_read", "_attributes", "_longest_text", "_screened")

    def __init__(self, facts: Sequence[Fact], screens: dict[str, Screen] | None = None) -> None:
        self.facts = facts
        self.screens = screens or {}
        self._read: dict[str, Column] = {}
        self._attributes: Column | None = None
        self._longest_text: dict[str, int | None] = {}
        self._screened: dict[str, bool] = {}

    def may_match(self, path: str, pattern: PatternKey) -> bool:
        """False when ``path``'s screen holds ``pattern`` and matches none of the (text) values."""
        screen = self.screens.get(path)
        if screen is None or pattern not in screen.members:
            return True
        found = self._screened.get(path)
        if found is None:
            found = self._screened[path] = any(map(screen.search, self.get(path)))
        return found

    def longest_text(self, path: str) -> int | None:
        """The length of the longest value of ``path`` when every value is text, else None."""
        if path not in self._longest_text:
            column = self.get(path)
            every_text = set(map(type, column)) <= {str}
            self._longest_text[path] = max(map(len, column), default=0) if every_text else None
        return self._longest_text[path]

    def __len__(self) -> int:
        return len(self.facts)

    def get(self, path: str) -> Column:
        found = self._read.get(path)
        if found is None:
            found = self._read[path] = self._column(path)
        return found

    def _column(self, path: str) -> Column:
        head, *rest = path.split(".")
        if head in FACT_FIELDS or len(rest) > 1:
            return list(map(getter(path), self.facts))
        if self._attributes is None:
            self._attributes = list(map(_attributes, self.facts))
        heads = list(map(_get, self._attributes, repeat(head), repeat(MISSING)))
        if not rest:
            return heads
        name = rest[0]
        try:
            return list(map(_get, heads, repeat(name), repeat(MISSING)))  # every value a dict, usually
        except TypeError:
            return [value.get(name, MISSING) if type(value) is dict else item(value, name) for value in heads]


def column_test(condition: Condition) -> ColumnTest:
    """The condition over a column: one boolean per value, as ``base.predicate`` gives per fact."""
    test = _positive(condition)
    if not condition.negate:
        return test
    return lambda columns, path: [not held for held in test(columns, path)]


def _positive(condition: Condition) -> ColumnTest:
    one = value_test(condition)

    def slow(columns: Columns, path: str) -> list[bool]:
        return list(map(one, columns.get(path)))

    if isinstance(condition, Regex):
        pattern = compiled(condition)
        search, key = pattern.search, (pattern.pattern, pattern.flags)

        def regex(columns: Columns, path: str) -> list[bool]:
            longest = columns.longest_text(path)
            if longest is None or longest > MAX_REGEX_INPUT:
                return slow(columns, path)
            if not columns.may_match(path, key):
                return [False] * len(columns)
            return list(map(bool, map(search, columns.get(path))))

        return regex
    if isinstance(condition, Equals) and type(condition.value) is str and not condition.case_insensitive:
        # Text equals only text: any other value (numbers, MISSING) compares unequal, as in ``normal``.
        value = condition.value
        return lambda columns, path: list(map(eq, columns.get(path), repeat(value)))
    return slow


def holding(tests: Sequence[tuple[str, ColumnTest]], columns: Columns) -> list[bool] | None:
    """Whether each fact satisfies all ``tests``; None when there are none (all hold)."""
    result: list[bool] | None = None
    for path, test in tests:
        held = test(columns, path)
        result = held if result is None else list(map(and_, result, held))
    return result


def keys(paths: Sequence[str], key_of: Callable[[Fact], str | None], columns: Columns) -> Column:
    """Each fact's key as ``base.key_function`` gives it: ``""`` for none, None when one is missing."""
    if not paths:
        return [""] * len(columns)
    if len(paths) > 1:
        return list(map(key_of, columns.facts))
    values = columns.get(paths[0])
    try:
        distinct = set(values)  # a few (an app, a host) or a few per fact (sessions): check those
    except TypeError:  # lists or objects among the values
        distinct = None
    if distinct is not None and all(type(value) is str and len(value) <= MAX_KEY_LENGTH for value in distinct):
        return values  # text that fits: the key is the value
    return [value if type(value) is str and len(value) <= MAX_KEY_LENGTH else single_key(value) for value in values]
