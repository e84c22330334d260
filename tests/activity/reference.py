"""A plain Python reference for periods and boundary flags, to check the SQL against."""

from __future__ import annotations

from collections.abc import Iterable

GROUP_OF_KIND = (0, 0, 1, 1, 1)
GROUPS = ("people", "vehicles")

Row = tuple[str, int, int]
"""(camera_id, time_us, kind)"""


def periods(
    rows: Iterable[Row], *, camera_id: str, start: int | None, end: int | None, gap: int
) -> dict[str, list[tuple[int, int]]]:
    """Periods in microseconds, the obvious way: sort, then extend or open."""
    result: dict[str, list[tuple[int, int]]] = {name: [] for name in GROUPS}
    for group, name in enumerate(GROUPS):
        times = sorted(
            time_us
            for camera, time_us, kind in rows
            if camera == camera_id
            and GROUP_OF_KIND[kind] == group
            and (start is None or time_us >= start)
            and (end is None or time_us < end)
        )
        spans: list[list[int]] = []
        for time_us in times:
            if spans and time_us - spans[-1][1] < gap:
                spans[-1][1] = time_us
            else:
                spans.append([time_us, time_us])
        result[name] = [(first, last) for first, last in spans]
    return result


def flags(rows: Iterable[Row], gap: int) -> list[tuple[str, int, int, bool, bool]]:
    """(camera, group, time, starts, ends) for every row, by definition, sorted."""
    listed = [(camera, GROUP_OF_KIND[kind], time_us) for camera, time_us, kind in rows]
    out = []
    for camera, group, time_us in listed:
        others = [t for c, g, t in listed if c == camera and g == group]
        starts = not any(time_us - gap < t < time_us for t in others)
        ends = not any(time_us < t < time_us + gap for t in others)
        out.append((camera, group, time_us, starts, ends))
    return sorted(out)
