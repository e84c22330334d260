"""Straightforward reference implementations of the stateful kinds, written from their definitions.

They keep whole histories and recount everything at every step: slow and
obviously right, to check the O(1) machines against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def consecutive(count: int, matched: Sequence[bool]) -> list[int]:
    """Indices where the run of matching events ending there is exactly ``count`` long."""
    fired = []
    for index in range(len(matched)):
        run = 0
        while index - run >= 0 and matched[index - run]:
            run += 1
        if run == count:
            fired.append(index)
    return fired


def rate(count: int, buckets: int, steps: Sequence[tuple[int, bool]]) -> list[int]:
    """Indices where more than ``count`` matching events fall in the last ``buckets`` slices, once per burst.

    ``steps`` are (slice number, matched). The window ends at the latest slice
    seen so far; an event already outside it is never counted; the rule is
    armed again at an event that finds ``count`` or fewer counted before it.
    """
    counted: list[int] = []
    latest: int | None = None
    armed = True
    fired = []
    for index, (slice_number, matched) in enumerate(steps):
        if not matched:
            continue
        latest = slice_number if latest is None else max(latest, slice_number)
        if slice_number <= latest - buckets:
            continue
        before = len([other for other in counted if other > latest - buckets])
        armed = armed or before <= count
        counted.append(slice_number)
        if before + 1 > count and armed:
            fired.append(index)
            armed = False
    return fired


@dataclass(frozen=True)
class Seen:
    at: int
    matched: bool


@dataclass(frozen=True)
class Check:
    at: int


def absence(silence: int, operations: Sequence[Seen | Check]) -> list[int]:
    """Indices of the events after which a silence of ``silence`` was noticed, each once.

    A silence follows the latest matching event; it is noticed by a check, or
    by the next matching event, at a time at least ``silence`` later.
    """
    latest: tuple[int, int] | None = None  # (time, index) of the latest matching event
    fired: list[int] = []
    for index, operation in enumerate(operations):
        if isinstance(operation, Seen) and not operation.matched:
            continue
        if latest is not None and operation.at - latest[0] >= silence and latest[1] not in fired:
            fired.append(latest[1])
        if isinstance(operation, Seen) and (latest is None or operation.at > latest[0]):
            latest = (operation.at, index)
    return fired
