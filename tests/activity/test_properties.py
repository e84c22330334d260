"""Property tests: whatever the order and batching of loads, the SQL agrees with a plain Python reference."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.activity import repository as activity_repository
from eventeye.activity import service as activity_service
from eventeye.activity.periods import DEFAULT_GAP_US, flag
from eventeye.activity.schemas import GROUP_OF_KIND, GROUPS
from eventeye.core.pipeline.envelope import new_event_id
from eventeye.core.storage.engine import read_transaction, write_transaction
from tests.activity import reference
from tests.activity.conftest import clear, stored_flags

SECOND = 1_000_000
# Multiples of 5 s, give or take a microsecond, hit ties and differences of exactly the gap and just
# either side of it; arbitrary microseconds hit everything in between.
near_multiples = st.builds(lambda k, d: max(0, k * 5 * SECOND + d), st.integers(0, 120), st.sampled_from([0, 0, 1, -1]))
times = st.one_of(near_multiples, st.integers(0, 600 * SECOND))
rows = st.lists(st.tuples(st.sampled_from(["a", "b"]), times, st.integers(0, 4)), max_size=30)
windows = st.tuples(st.none() | st.integers(0, 600 * SECOND), st.none() | st.integers(0, 600 * SECOND))
gaps = st.sampled_from([DEFAULT_GAP_US, 1, 15 * SECOND, 59_999_999, 60 * SECOND + 1, 120 * SECOND])
CHECKS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


async def store_in_parts(
    engine: AsyncEngine, data: list[tuple[str, int, int]], cuts: list[int], via: list[bool]
) -> None:
    """Store ``data`` cut at ``cuts``, each part sorted, in bulk (``False``) or with event ids (``True``)."""
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    for index, (low, high) in enumerate(zip(bounds, bounds[1:], strict=False)):
        part = sorted(((c, t, k, GROUP_OF_KIND[k]) for c, t, k in data[low:high]), key=lambda row: row[1])
        with_ids = via[index % len(via)]
        async with write_transaction(engine) as conn:
            ids = [new_event_id() for _ in part] if with_ids else None
            await activity_service.store(conn, flag(part), ids=ids)


async def sql_periods(
    engine: AsyncEngine, camera: str, window: tuple[int | None, int | None], gap: int, stored: bool
) -> dict[str, list[tuple[int, int]]]:
    async with read_transaction(engine) as conn:
        found = await activity_repository.find_periods(
            conn, camera_id=camera, start=window[0], end=window[1], gap=gap, stored=stored
        )
    result: dict[str, list[tuple[int, int]]] = {name: [] for name in GROUPS}
    for group, first, last in found:
        result[GROUPS[group]].append((first, last))
    return result


@CHECKS
@given(
    data=rows,
    cuts=st.lists(st.integers(0, 30), max_size=3),
    via=st.lists(st.booleans(), min_size=1, max_size=4),
    in_order=st.booleans(),
)
# A part arriving just under / exactly one gap after the stored rows, and at the same instant as them.
@example(data=[("a", 0, 2), ("a", 59_999_999, 3)], cuts=[1], via=[True], in_order=True)
@example(data=[("a", 0, 2), ("a", 60 * SECOND, 3)], cuts=[1], via=[False], in_order=True)
@example(data=[("a", 0, 0), ("a", 30 * SECOND, 1), ("a", 30 * SECOND, 0)], cuts=[2], via=[True], in_order=True)
async def test_boundary_flags_are_exact_however_rows_arrive(
    engine: AsyncEngine, data: list[tuple[str, int, int]], cuts: list[int], via: list[bool], in_order: bool
) -> None:
    """In time order (as cameras send) or shuffled, in bulk or with event ids, in one part or several."""
    await clear(engine)
    await store_in_parts(engine, sorted(data, key=lambda row: row[1]) if in_order else data, cuts, via)
    assert await stored_flags(engine) == reference.flags(data, DEFAULT_GAP_US)


@CHECKS
@given(data=rows, cuts=st.lists(st.integers(0, 30), max_size=2), window=windows, gap=gaps)
async def test_periods_match_the_reference(
    engine: AsyncEngine,
    data: list[tuple[str, int, int]],
    cuts: list[int],
    window: tuple[int | None, int | None],
    gap: int,
) -> None:
    await clear(engine)
    await store_in_parts(engine, data, cuts, [False, True])
    expected = reference.periods(data, camera_id="a", start=window[0], end=window[1], gap=gap)
    assert await sql_periods(engine, "a", window, gap, stored=False) == expected
    if gap == DEFAULT_GAP_US:
        assert await sql_periods(engine, "a", window, gap, stored=True) == expected
