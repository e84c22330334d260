"""Rules that read the same steps keep their states together: one state row per key.

The stateful rules of one selector (see ``plan``: same module, types, key,
scope and ``when``) see exactly the same events per key, so their states are
read, advanced and written together, in one ``rule_state`` row named after
the group. A team's warning and critical thresholds of one rule, say, cost
one row per key instead of one per rule, and rate rules among them advance
one window. Each member's state is kept under its rule's name with the
rule's fingerprint: a member that changes starts over alone, and one that
joins or leaves the group leaves the others' states as they are.

A group is named ``~`` and a digest of what its members select, a name no
rule can have (rule names begin with a letter or digit).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventeye.core.rules.base import CompiledRule
from eventeye.core.rules.steps import Fire, Step

GROUP_PREFIX = "~"


@dataclass(slots=True)
class Member:
    """One rule's state in its group's row, and the rule fingerprint it was computed under."""

    fingerprint: str
    state: Any


States = dict[str, Member]
Fired = tuple[int, CompiledRule, Fire]


class RuleGroup:
    """The stateful rules of one selector, evaluated and stored together per key."""

    __slots__ = ("name", "fingerprint", "rules", "_runs")

    def __init__(self, signature: bytes, rules: Sequence[CompiledRule]) -> None:
        digest = hashlib.sha256(signature).hexdigest()[:32]
        self.name = GROUP_PREFIX + digest
        self.fingerprint = digest
        self.rules = tuple(rules)
        runs: dict[Hashable, list[CompiledRule]] = {}
        for rule in self.rules:
            shares = rule.machine.shares
            runs.setdefault(shares if shares is not None else rule.name, []).append(rule)
        self._runs = tuple(runs.values())

    def load(self, data: dict[str, Any]) -> States:
        """The members' states found in a stored row (those computed under their current definition)."""
        stored, common = data.get("members", {}), data.get("common", {})
        states: States = {}
        for rule in self.rules:
            found = stored.get(rule.name)
            if found is not None and found.get("fingerprint") == rule.fingerprint:
                states[rule.name] = Member(rule.fingerprint, rule.machine.load(common | found["state"]))
        return states

    def dump(self, states: States) -> dict[str, Any]:
        """The members' states; what all of them hold alike (a shared window) is written once."""
        dumped = {
            rule.name: (member.fingerprint, rule.machine.dump(member.state))
            for rule in self.rules
            if (member := states.get(rule.name)) is not None
        }
        common = _common([state for _, state in dumped.values()]) if len(dumped) > 1 else {}
        members = {
            name: {"fingerprint": fingerprint, "state": {k: v for k, v in state.items() if k not in common}}
            for name, (fingerprint, state) in dumped.items()
        }
        return {"members": members, "common": common} if common else {"members": members}

    def run(self, before: States, steps: Sequence[Step]) -> tuple[States, list[Fired]]:
        """Every member over one key's steps from its state (a new one where it has none); ``before`` is left as
        it was, and the states after may share parts (each run copies what it changes)."""
        after: States = {}
        fired: list[Fired] = []
        for rules in self._runs:
            if len(rules) == 1:
                rule = rules[0]
                state = rule.machine.copy(_state(rule, before.get(rule.name)))  # ``run`` changes it
                results = [(state, rule.machine.run(state, steps))]
            else:
                states = [_state(rule, before.get(rule.name)) for rule in rules]
                results = rules[0].machine.run_shared([rule.machine for rule in rules], states, steps)
            for rule, (state, fires) in zip(rules, results, strict=True):
                after[rule.name] = Member(rule.fingerprint, state)
                fired += [(position, rule, fire) for position, fire in fires]
        return after, fired

    def due(self, states: States) -> datetime | None:
        """The earliest timer of the members."""
        dues = [due for rule in self.rules if (due := _due(rule, states.get(rule.name))) is not None]
        return min(dues, default=None)

    def check(self, states: States, now: datetime) -> list[tuple[CompiledRule, Fire]]:
        """Fire the members whose timer is due at ``now`` (their states change in place)."""
        fired = []
        for rule in self.rules:
            member = states.get(rule.name)
            if member is not None and (fire := rule.machine.check(member.state, now)) is not None:
                fired.append((rule, fire))
        return fired


def _common(states: list[dict[str, Any]]) -> dict[str, Any]:
    """The items every state holds with the same value."""
    first, others = states[0], states[1:]
    return {key: value for key, value in first.items() if all(other.get(key, _NONE) == value for other in others)}


_NONE = object()


def _state(rule: CompiledRule, member: Member | None) -> Any:
    """The member's state if computed under the rule as it is, else a new one."""
    if member is None or member.fingerprint != rule.fingerprint:
        return rule.machine.new()
    return member.state


def _due(rule: CompiledRule, member: Member | None) -> datetime | None:
    return rule.machine.due(member.state) if member is not None else None
