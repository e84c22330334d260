"""Periods of activity: the boundaries kept at ingestion, and shaping query results.

A period is a run of detections of one camera and group in which each is
less than ``gap`` after the one before. For the default gap every stored
detection carries two flags:

- ``starts``: no detection of its camera and group in ``(time - gap, time)``;
- ``ends``: none in ``(time, time + gap)``.

Detections at the same instant share their flags, so ties need no order. A
new detection can only clear flags of its neighbours, never set one, which
makes them cheap to keep: ``flag`` computes them for a batch sorted by time
(exact within the batch, a superset of the truth overall), and the
repository's ``settle`` re-checks the flagged rows in the few ranges where
the batch meets stored detections (``settle_ranges``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventeye.activity.schemas import GROUPS, Detection

DEFAULT_GAP_US = 60_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Key = tuple[str, int]
"""A detection stream: (camera_id, group)."""

FlaggedRow = tuple[str, int, int, int, bool, bool]
"""A detection ready to store: ``(camera_id, time_us, kind, group, starts, ends)``."""


def to_micros(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime."""
    return (moment - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True, slots=True)
class Span:
    """The first and last time of a key's detections in a batch."""

    first: int
    last: int


@dataclass(frozen=True, slots=True)
class SettleRange:
    """Flagged rows of ``key`` with ``low <= time_us <= high`` may be wrong and must be re-checked."""

    camera_id: str
    group: int
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Flagged:
    """A batch ready to store: its rows with their flags (in time order), and each key's span."""

    rows: list[FlaggedRow]
    spans: dict[Key, Span]


def flag(batch: Sequence[Detection], gap: int = DEFAULT_GAP_US) -> Flagged:
    """Boundary flags of ``batch`` (sorted by time) computed from the batch alone."""
    # Per group, camera -> (latest time, its flag): plain string keys, no tuple to build per row.
    before: tuple[dict[str, tuple[int, bool]], ...] = ({}, {})
    firsts: dict[Key, int] = {}
    rows: list[FlaggedRow] = []
    append = rows.append
    for (camera_id, time_us, kind, group), ends in zip(batch, _ends(batch, gap), strict=True):
        seen = before[group]
        previous = seen.get(camera_id)
        if previous is None:
            starts = True
            firsts[(camera_id, group)] = time_us
        elif previous[0] == time_us:
            starts = previous[1]
        else:
            starts = time_us - previous[0] >= gap
        seen[camera_id] = (time_us, starts)
        append((camera_id, time_us, kind, group, starts, ends))
    spans = {(camera, group): Span(first, before[group][camera][0]) for (camera, group), first in firsts.items()}
    return Flagged(rows, spans)


def _ends(batch: Sequence[Detection], gap: int) -> list[bool]:
    ends = [True] * len(batch)
    after: tuple[dict[str, tuple[int, bool]], ...] = ({}, {})
    for index in range(len(batch) - 1, -1, -1):
        camera_id, time_us, _, group = batch[index]
        seen = after[group]
        following = seen.get(camera_id)
        if following is not None:
            ends[index] = following[1] if following[0] == time_us else following[0] - time_us >= gap
        seen[camera_id] = (time_us, ends[index])
    return ends


def settle_ranges(spans: dict[Key, Span], latest: dict[Key, int], gap: int = DEFAULT_GAP_US) -> list[SettleRange]:
    """Where a batch's flags may disagree with the stored detections of its keys.

    ``latest`` is the latest stored time of each key before the batch. A batch
    a gap or more after it changes nothing stored; one at or after it meets
    the stored rows at one junction; one reaching back among them may change
    flags up to ``gap`` around itself.
    """
    ranges = []
    for (camera_id, group), span in sorted(spans.items()):
        stored = latest.get((camera_id, group))
        if stored is None:
            continue
        if stored <= span.first - gap:
            continue  # a new period: nothing stored is near enough to change
        if stored <= span.first:
            ranges.append(SettleRange(camera_id, group, stored, span.first))
        else:
            ranges.append(SettleRange(camera_id, group, span.first - gap, span.last + gap))
    return ranges


PeriodsByGroup = dict[str, list[tuple[datetime, datetime]]]


def shape(rows: Iterable[tuple[int, int, int]]) -> PeriodsByGroup:
    """``(group, start_us, end_us)`` rows to ``{"people": [(start, end), ...], "vehicles": [...]}``."""
    result: PeriodsByGroup = {name: [] for name in GROUPS}
    lists, epoch, micros = [result[name] for name in GROUPS], EPOCH, timedelta
    for group, start, end in rows:  # inlined from_micros: results may hold hundreds of thousands of periods
        lists[group].append((epoch + micros(microseconds=start), epoch + micros(microseconds=end)))
    return result
