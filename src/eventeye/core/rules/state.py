"""Rule state in memory: one entry per (group of rules, key), written through to ``rule_state``.

Every stored state has a version, bumped by each write; a write succeeds
only over the version it was computed from. The cache may therefore be
stale (another worker, another process, a timer wrote meanwhile) without
harm: the write of a stale entry is refused, and the engine computes that
entry again from the stored one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Entry:
    """A state as computed: the rule fingerprint it belongs to, its version, the state and its timer."""

    fingerprint: str
    version: int
    state: Any
    due_at: datetime | None


class StateCache:
    """Bounded: past ``limit`` entries, the least recently written ones are forgotten."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: dict[Pair, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, pair: Pair) -> Entry | None:
        return self._entries.get(pair)

    def merge(self, entries: dict[Pair, Entry]) -> None:
        """Keep the newer of the cached and the given entry of each pair (versions only grow)."""
        for pair, entry in entries.items():
            current = self._entries.pop(pair, None)
            self._entries[pair] = entry if current is None or entry.version >= current.version else current
        while len(self._entries) > self.limit:
            del self._entries[next(iter(self._entries))]

    def forget(self, pairs: Iterable[Pair]) -> None:
        for pair in pairs:
            self._entries.pop(pair, None)

    def clear(self) -> None:
        self._entries.clear()
