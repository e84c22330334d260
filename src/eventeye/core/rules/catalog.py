"""Which rules are in effect: module defaults, overridden by settings, overridden by the API.

A rule saved through the API either stands alone (``origin="api"``) or
overrides a module's or the settings' rule of the same name: a new
definition, an ``enabled`` flag, or both. Deleting the override brings the
default back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from eventeye.core.rules.repository import SavedRule
from eventeye.core.rules.schemas import Origin, Rule

logger = logging.getLogger("eventeye.rules")


class RuleConfigError(ValueError):
    """A rule in the settings (``rules``) or a module's default rule is not valid."""


def describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'rule'}: {item['msg'].removeprefix('Value error, ')}"
        for item in error.errors()
    )


def parse_configured(items: list[dict[str, Any]]) -> dict[str, Rule]:
    """The ``rules`` setting as rules; ``RuleConfigError`` naming the first bad entry and field."""
    parsed: dict[str, Rule] = {}
    for index, item in enumerate(items):
        try:
            rule = Rule.model_validate(item)
        except ValidationError as exc:
            raise RuleConfigError(f"rules[{index}]: {describe(exc)}") from None
        if rule.name in parsed:
            raise RuleConfigError(f"rules[{index}]: name: {rule.name!r} is defined twice")
        parsed[rule.name] = rule
    return parsed


@dataclass(frozen=True, slots=True)
class Effective:
    """A rule as in effect, and where it comes from."""

    rule: Rule
    origin: Origin
    overridden: bool
    updated_at: datetime | None


class RuleCatalog:
    """Merges the three sources of rules."""

    def __init__(self, configured: dict[str, Rule] | None = None) -> None:
        self.builtin: dict[str, Rule] = {}
        self.configured: dict[str, Rule] = dict(configured or {})
        self.saved: dict[str, SavedRule] = {}

    def add_builtin(self, rule: Rule) -> None:
        if rule.name in self.builtin:
            raise RuleConfigError(f"default rule {rule.name!r} is registered twice")
        self.builtin[rule.name] = rule

    def default(self, name: str) -> tuple[Rule, Origin] | None:
        """The module's or the settings' rule ``name``, before any API override."""
        if name in self.configured:
            return self.configured[name], "config"
        if name in self.builtin:
            return self.builtin[name], "module"
        return None

    def effective(self) -> dict[str, Effective]:
        names = sorted({*self.builtin, *self.configured, *self.saved})
        result = {}
        for name in names:
            found = self._effective(name)
            if found is not None:
                result[name] = found
        return result

    def _effective(self, name: str) -> Effective | None:
        base = self.default(name)
        saved = self.saved.get(name)
        rule: Rule | None = base[0] if base else None
        origin: Origin = base[1] if base else "api"
        if saved is not None and saved.definition is not None:
            try:
                rule = Rule.model_validate({**saved.definition, "name": name})
            except ValidationError as exc:
                logger.error("ignoring the saved definition of rule %s: %s", name, describe(exc))
        if rule is None:
            return None
        if saved is not None and saved.enabled is not None:
            rule = rule.model_copy(update={"enabled": saved.enabled})
        overridden = base is not None and saved is not None
        return Effective(rule, origin, overridden, saved.updated_at if saved else None)
