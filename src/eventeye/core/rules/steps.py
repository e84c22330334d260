"""What the state machines take and give: a batch's steps per key, and what fired."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress, islice
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


@dataclass(frozen=True, slots=True)
class Timeline:
    """The matching steps of a key in time order, for the kinds that can skip over them."""

    positions: list[int]
    facts: list[Fact]
    times: list[datetime]
    max_gap: timedelta | None


class Steps(list[Step]):
    """A key's steps in one batch, shared by the rules that select alike (see ``plan``)."""

    __slots__ = ("_timeline", "_known")

    def __init__(self) -> None:
        super().__init__()
        self._known = False
        self._timeline: Timeline | None = None

    def timeline(self) -> Timeline | None:
        """The matching steps, or None when they are not in time order (computed once)."""
        if not self._known:
            self._known, self._timeline = True, _timeline(self)
        return self._timeline


def _timeline(steps: Sequence[Step]) -> Timeline | None:
    matched = list(map(_matched, steps))
    facts = list(compress(map(_fact, steps), matched))
    times = list(map(_occurred_at, facts))
    if any(map(gt, times, islice(times, 1, None))):
        return None
    max_gap = max(map(sub, islice(times, 1, None), times), default=None)
    return Timeline(list(compress(map(_position, steps), matched)), facts, times, max_gap)


_position, _fact, _matched = itemgetter(0), itemgetter(1), itemgetter(2)
_occurred_at = attrgetter("occurred_at")


def timeline_of(steps: Sequence[Step]) -> Timeline | None:
    return steps.timeline() if isinstance(steps, Steps) else None
