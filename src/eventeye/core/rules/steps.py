"""What the state machines take and give: a batch's steps per key, and what fired."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress, islice, repeat
from operator import attrgetter, gt, itemgetter, sub
from typing import Any

from eventeye.core.pipeline.envelope import Fact


@dataclass(frozen=True, slots=True)
class Fire:
    """A rule fired: what triggered it (for the alert id), the events involved and details."""

    trigger: str
    event_ids: Sequence[str]
    details: dict[str, Any]
    fact: Fact | None = None


Step = tuple[int, Fact, bool]
"""(position in the batch, fact, whether it satisfies ``when``)."""


class Timeline:
    """The matching steps of a key in time order, for the kinds that can skip over them."""

    __slots__ = ("positions", "facts", "times", "_max_gap", "_gap_known")

    def __init__(self, positions: list[int], facts: list[Fact], times: list[datetime]) -> None:
        self.positions, self.facts, self.times = positions, facts, times
        self._max_gap: timedelta | None = None
        self._gap_known = False

    @property
    def max_gap(self) -> timedelta | None:
        """The longest time between two consecutive steps (None for fewer than two); computed once."""
        if not self._gap_known:
            times = self.times
            self._max_gap, self._gap_known = max(map(sub, islice(times, 1, None), times), default=None), True
        return self._max_gap


class Steps(list[Step]):
    """A key's steps in one batch, shared by the rules that select alike (see ``plan``)."""

    __slots__ = ("_timeline", "_known", "_columns")

    def __init__(self) -> None:
        super().__init__()
        self._known = False
        self._timeline: Timeline | None = None
        self._columns: tuple[list[int], list[Fact]] | None = None

    def extend_matched(self, positions: list[int], facts: list[Fact]) -> None:
        """Add matching steps given as columns (kept for the timeline while they are all there is)."""
        if not self:
            self._columns = (positions, facts)
        self.extend(zip(positions, facts, repeat(True)))

    def timeline(self) -> Timeline | None:
        """The matching steps, or None when they are not in time order (computed once)."""
        if not self._known:
            columns = self._columns
            if columns is not None and len(columns[0]) == len(self):  # nothing was added since
                self._timeline = _in_order(*columns)
            else:
                self._timeline = _timeline(self)
            self._known = True
        return self._timeline


def _timeline(steps: Sequence[Step]) -> Timeline | None:
    matched = list(map(_matched, steps))
    return _in_order(list(compress(map(_position, steps), matched)), list(compress(map(_fact, steps), matched)))


def _in_order(positions: list[int], facts: list[Fact]) -> Timeline | None:
    times = list(map(_occurred_at, facts))
    if any(map(gt, times, islice(times, 1, None))):
        return None
    return Timeline(positions, facts, times)


_position, _fact, _matched = itemgetter(0), itemgetter(1), itemgetter(2)
_occurred_at = attrgetter("occurred_at")


def timeline_of(steps: Sequence[Step]) -> Timeline | None:
    return steps.timeline() if isinstance(steps, Steps) else None
