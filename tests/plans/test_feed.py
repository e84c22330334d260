"""The feed parser: the provider's sample, malformed elements, and documents that are not feeds."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from eventeye.plans.feed import FeedError, FeedIssue, FeedPlan, FeedReader
from tests.plans.feeds import SAMPLE, base_event, event, feed, zone


def read(data: bytes) -> tuple[list[FeedPlan], list[FeedIssue], FeedReader]:
    reader = FeedReader(io.BytesIO(data))
    items = list(reader)
    return [i for i in items if isinstance(i, FeedPlan)], [i for i in items if isinstance(i, FeedIssue)], reader


class TestSample:
    def test_online_events_are_read_with_their_price_range(self) -> None:
        plans, _, _ = read(SAMPLE)
        camela = next(p for p in plans if p.base_event_id == "291")
        assert camela.title == "Camela en concierto"
        assert camela.starts_at == datetime(2021, 6, 30, 21, tzinfo=UTC)
        assert camela.ends_at == datetime(2021, 6, 30, 22, tzinfo=UTC)
        assert (camela.min_price, camela.max_price) == (15.0, 30.0)

    def test_the_same_event_id_under_two_base_events_gives_two_plans(self) -> None:
        plans, _, _ = read(SAMPLE)
        assert sorted((p.base_event_id, p.event_id) for p in plans if p.event_id == "1642") == [
            ("1591", "1642"),
            ("322", "1642"),
        ]

    def test_the_invalid_date_is_skipped_and_reported_with_its_line(self) -> None:
        plans, issues, reader = read(SAMPLE)
        assert [p.base_event_id for p in plans] == ["291", "322", "322", "1591"]
        assert len(issues) == reader.invalid == 1
        assert issues[0].base_event_id == "444"
        assert issues[0].line == 27
        assert issues[0].reason.startswith("event_start_date: '2021-09-31T20:00:00'")


class TestMalformedElements:
    @pytest.mark.parametrize(
        ("element", "reason"),
        [
            (base_event("1", None), "title: missing"),
            (base_event(None), "base_event_id: missing"),
            (base_event("1", "T", event(event_id=None)), "event_id: missing"),
            (base_event("1", "T", event(start="2021-02-30T10:00:00")), "event_start_date"),
            (base_event("1", "T", event(end="tomorrow")), "event_end_date"),
            (base_event("1", "T", event(end=None)), "event_end_date: missing"),
            (base_event("1", "T", event(start="2021-06-30T22:00:00", end="2021-06-30T21:00:00")), "before"),
            (base_event("1", "T", event(zones=())), "no zone"),
            (base_event("1", "T", sell_mode=None), "sell_mode: missing"),
        ],
    )
    def test_a_bad_event_is_skipped_and_the_rest_is_read(self, element: str, reason: str) -> None:
        plans, issues, reader = read(feed(element, base_event("2", "Good")))
        assert [p.base_event_id for p in plans] == ["2"]
        assert len(issues) == reader.invalid == 1
        assert reason in issues[0].reason

    @pytest.mark.parametrize("price", ["free", "-5", "1e3", "NaN", "", None])
    def test_a_zone_without_a_valid_price_is_skipped_and_reported(self, price: str | None) -> None:
        plans, issues, _ = read(feed(base_event("1", "T", event(zones=(zone("12.50"), zone(price), zone("40"))))))
        assert [(p.min_price, p.max_price) for p in plans] == [(12.5, 40.0)]
        assert [(i.element, i.base_event_id, i.event_id) for i in issues] == [("zone", "1", "1")]
        assert issues[0].reason.startswith("price:")

    def test_a_repeated_event_keeps_the_first_and_reports_the_repeat(self) -> None:
        plans, issues, _ = read(feed(base_event("1", "First"), base_event("1", "Again")))
        assert [p.title for p in plans] == ["First"]
        assert "duplicate" in issues[0].reason

    def test_offline_events_are_counted_not_returned(self) -> None:
        plans, issues, reader = read(feed(base_event("1", "Off", sell_mode="offline"), base_event("2", "On")))
        assert [p.base_event_id for p in plans] == ["2"]
        assert (issues, reader.offline) == ([], 1)

    def test_instants_with_an_offset_are_converted_to_utc(self) -> None:
        plans, _, _ = read(
            feed(base_event("1", "T", event(start="2021-06-30T23:00:00+02:00", end="2021-06-30T23:30:00+02:00")))
        )
        assert plans[0].starts_at == datetime(2021, 6, 30, 21, tzinfo=UTC)


class TestNotAFeed:
    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"Internal Server Error",
            b'{"events": []}',
            b"<html><body>Maintenance</body></html>",
            b"<eventList><output><base_event",  # truncated
        ],
    )
    def test_raises_feed_error(self, data: bytes) -> None:
        with pytest.raises(FeedError):
            read(data)

    def test_truncated_feed_yields_what_came_before_the_cut_then_fails(self) -> None:
        whole = feed(base_event("1"), base_event("2"), base_event("3"))
        reader = iter(FeedReader(io.BytesIO(whole[: whole.index(b'base_event_id="3"')])))
        assert next(reader).base_event_id == "1"  # type: ignore[union-attr]
        with pytest.raises(FeedError):
            list(reader)


class TestSafety:
    def test_entity_expansion_bombs_are_refused(self) -> None:
        entities = '<!ENTITY l0 "lollollollollol">' + "".join(
            f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
        )
        element = base_event("1", "TITLE").replace("TITLE", "&l9;")
        bomb = f'<?xml version="1.0"?><!DOCTYPE f [{entities}]><eventList><output>{element}</output></eventList>'
        with pytest.raises(FeedError):
            read(bomb.encode())

    def test_external_entities_are_not_resolved(self, tmp_path: pytest.TempPathFactory) -> None:
        secret = tmp_path / "secret.txt"  # type: ignore[operator]
        secret.write_text("TOP-SECRET")
        doc = (
            f'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY xxe SYSTEM "file://{secret}">]>'
            f"<eventList><output>{base_event('1', 'T')}<note>&xxe;</note></output></eventList>"
        ).encode()
        plans, _, _ = read(doc)
        assert [p.title for p in plans] == ["T"]
        doc_in_attribute = doc.replace(b'title="T"', b'title="&xxe;"')
        with pytest.raises(FeedError):
            read(doc_in_attribute)

    def test_elements_are_freed_as_they_are_read(self) -> None:
        many = feed(*(base_event(str(i), "T", event(zones=tuple(zone(str(z)) for z in range(50)))) for i in range(200)))
        reader = FeedReader(io.BytesIO(many))
        iterator = iter(reader)
        sizes = []
        for _ in range(150):
            assert isinstance(next(iterator), FeedPlan)
            sizes.append(sum(1 for _ in reader.root.iter()))
        # What is left is the parser's read-ahead (a few base events), not everything read so far.
        assert max(sizes) < 1000 < 150 * 52
        assert sum(1 for _ in iterator) == 50
