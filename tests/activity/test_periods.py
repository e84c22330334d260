"""Periods of activity in SQL: the MISSION example, boundaries, cameras, order, ties, ranges, gaps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.activity import reference
from tests.activity.conftest import at, detection, find, store_bulk, store_one_by_one, stored_flags, us

Store = Callable[[AsyncEngine, Sequence[tuple[str, int, int, int]]], Awaitable[None]]
STORES = pytest.mark.parametrize("store", [store_one_by_one, store_bulk], ids=["one-by-one", "bulk"])
CARS = ["18:30:30", "18:31:00", "18:31:30", "18:35:00", "18:35:30", "18:36:00", "18:37:30", "18:38:00"]


def spans(*pairs: tuple[str, str]) -> list[tuple[object, object]]:
    return [(at(first), at(last)) for first, last in pairs]


@STORES
class TestMissionExample:
    async def test_cars_make_three_periods(self, engine: AsyncEngine, store: Store) -> None:
        await store(engine, [detection(us(clock), "car") for clock in CARS])
        found = await find(engine)
        assert found == {
            "people": [],
            "vehicles": spans(("18:30:30", "18:31:30"), ("18:35:00", "18:36:00"), ("18:37:30", "18:38:00")),
        }

    async def test_people_and_vehicles_are_separate_groups(self, engine: AsyncEngine, store: Store) -> None:
        rows = [
            detection(us("18:30:30"), "pedestrian"),
            detection(us("18:30:40"), "car"),
            detection(us("18:31:00"), "bicycle"),
            detection(us("18:31:20"), "truck"),
            detection(us("18:32:10"), "van"),
        ]
        await store(engine, rows)
        found = await find(engine)
        assert found["people"] == spans(("18:30:30", "18:31:00"))
        assert found["vehicles"] == spans(("18:30:40", "18:32:10"))


@STORES
class TestBoundaries:
    async def test_exactly_the_gap_apart_splits(self, engine: AsyncEngine, store: Store) -> None:
        await store(engine, [detection(us("18:30:00"), "car"), detection(us("18:31:00"), "car")])
        assert (await find(engine))["vehicles"] == spans(("18:30:00", "18:30:00"), ("18:31:00", "18:31:00"))

    async def test_just_under_the_gap_merges(self, engine: AsyncEngine, store: Store) -> None:
        await store(engine, [detection(us("18:30:00"), "car"), detection(us("18:30:59.999"), "car")])
        assert (await find(engine))["vehicles"] == spans(("18:30:00", "18:30:59.999"))

    async def test_a_lone_detection_starts_and_ends_at_once(self, engine: AsyncEngine, store: Store) -> None:
        await store(engine, [detection(us("18:30:00"), "pedestrian")])
        assert await find(engine) == {"people": spans(("18:30:00", "18:30:00")), "vehicles": []}

    async def test_equal_timestamps_are_one_instant(self, engine: AsyncEngine, store: Store) -> None:
        clocks = ["18:30:00", "18:30:00", "18:30:00", "18:31:00", "18:31:00", "18:31:30", "18:31:30"]
        await store(engine, [detection(us(clock), "van") for clock in clocks])
        assert (await find(engine))["vehicles"] == spans(("18:30:00", "18:30:00"), ("18:31:00", "18:31:30"))


@STORES
class TestCameras:
    async def test_each_camera_has_its_own_periods(self, engine: AsyncEngine, store: Store) -> None:
        rows = [
            detection(us("18:30:00"), "car", "north"),
            detection(us("18:30:30"), "car", "south"),
            detection(us("18:31:00"), "car", "north"),
        ]
        await store(engine, rows)
        assert (await find(engine, camera_id="north"))["vehicles"] == spans(
            ("18:30:00", "18:30:00"), ("18:31:00", "18:31:00")
        )
        assert (await find(engine, camera_id="south"))["vehicles"] == spans(("18:30:30", "18:30:30"))
        assert await find(engine) == {"people": [], "vehicles": []}


class TestOrder:
    async def test_an_out_of_order_bulk_load_gives_the_same_periods(self, engine: AsyncEngine) -> None:
        shuffled = [CARS[i] for i in (5, 0, 7, 2, 4, 1, 6, 3)]
        await store_bulk(engine, [detection(us(clock), "car") for clock in shuffled[:4]])
        await store_bulk(engine, [detection(us(clock), "car") for clock in shuffled[4:]])
        found = await find(engine)
        assert found["vehicles"] == spans(("18:30:30", "18:31:30"), ("18:35:00", "18:36:00"), ("18:37:30", "18:38:00"))

    async def test_a_late_detection_joins_two_periods(self, engine: AsyncEngine) -> None:
        await store_one_by_one(engine, [detection(us(c), "car") for c in ("18:30:00", "18:30:50", "18:32:00")])
        assert (await find(engine))["vehicles"] == spans(("18:30:00", "18:30:50"), ("18:32:00", "18:32:00"))
        await store_one_by_one(engine, [detection(us("18:31:25"), "car")])
        assert (await find(engine))["vehicles"] == spans(("18:30:00", "18:32:00"))

    async def test_flags_match_their_definition_after_mixed_loads(self, engine: AsyncEngine) -> None:
        first = [detection(us(c), "car") for c in ("18:30:00", "18:32:00", "18:34:00")]
        second = [detection(us(c), "car") for c in ("18:31:00", "18:33:30", "18:34:00")]
        await store_bulk(engine, first)
        await store_one_by_one(engine, second[:1])
        await store_bulk(engine, second[1:])
        rows = [(camera, time_us, kind) for camera, time_us, kind, _ in first + second]
        assert await stored_flags(engine) == reference.flags(rows, 60_000_000)


@STORES
class TestRanges:
    async def test_a_range_cuts_periods_at_its_edges(self, engine: AsyncEngine, store: Store) -> None:
        await store(engine, [detection(us(clock), "car") for clock in CARS])
        found = await find(engine, start=at("18:31:00"), end=at("18:35:30"))
        assert found["vehicles"] == spans(("18:31:00", "18:31:30"), ("18:35:00", "18:35:00"))

    async def test_end_is_exclusive(self, engine: AsyncEngine, store: Store) -> None:
        await store(engine, [detection(us(clock), "car") for clock in CARS])
        found = await find(engine, start=at("18:30:30"), end=at("18:31:30"))
        assert found["vehicles"] == spans(("18:30:30", "18:31:00"))

    async def test_an_empty_range_has_no_periods(self, engine: AsyncEngine, store: Store) -> None:
        await store(engine, [detection(us(clock), "car") for clock in CARS])
        assert await find(engine, start=at("18:32:00"), end=at("18:35:00")) == {"people": [], "vehicles": []}
        assert await find(engine, start=at("18:40:00"), end=at("18:30:00")) == {"people": [], "vehicles": []}


@STORES
class TestOtherGaps:
    async def test_a_wider_gap_merges_more(self, engine: AsyncEngine, store: Store) -> None:
        await store(engine, [detection(us(clock), "car") for clock in CARS])
        found = await find(engine, gap_seconds=100)
        assert found["vehicles"] == spans(("18:30:30", "18:31:30"), ("18:35:00", "18:38:00"))

    async def test_a_narrower_gap_splits_more(self, engine: AsyncEngine, store: Store) -> None:
        await store(engine, [detection(us(clock), "car") for clock in CARS])
        found = await find(engine, gap_seconds=30)
        assert len(found["vehicles"]) == len(CARS)
