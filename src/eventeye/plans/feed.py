"""Streaming parser of the provider's XML feed.

The feed looks like::

    <eventList><output>
      <base_event base_event_id="291" sell_mode="online" title="Camela en concierto">
        <event event_id="291" event_start_date="2021-06-30T21:00:00" event_end_date="2021-06-30T22:00:00" ...>
          <zone zone_id="40" capacity="243" price="20.00" name="Platea" numbered="true"/>

``FeedReader`` walks it with ``lxml.etree.iterparse`` (entities not resolved,
no network, no huge trees), clearing every element once read, so memory stays
bounded whatever the feed's size. A malformed element is skipped and reported
as a ``FeedIssue``; a document that is not a well-formed ``eventList`` raises
``FeedError``. ``check_well_formed`` checks a whole document first, cheaply,
so that a feed cut short is refused before anything of it is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from lxml import etree

from eventeye.plans.schemas import parse_instant

ROOT_TAG = "eventList"
PARSER_OPTIONS: dict[str, Any] = {"resolve_entities": False, "no_network": True, "huge_tree": False, "load_dtd": False}
CHECK_CHUNK = 1024 * 1024
MAX_PRICE_LENGTH = 20
MAX_ID_LENGTH = 100
MAX_TITLE_LENGTH = 1000


class FeedError(Exception):
    """The document is not a provider feed (not XML, malformed, or another root element)."""


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """A valid event of an online base event."""

    base_event_id: str
    event_id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    min_price: float
    max_price: float


@dataclass(frozen=True, slots=True)
class FeedIssue:
    """An element that was skipped, and why."""

    line: int | None
    element: str
    reason: str
    base_event_id: str | None = None
    event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "element": self.element,
            "base_event_id": self.base_event_id,
            "event_id": self.event_id,
            "reason": self.reason,
        }


@dataclass
class _Zones:
    """Prices of the zones read so far for the event being parsed."""

    low: float = math.inf
    high: float = -math.inf
    issues: list[FeedIssue] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.low == math.inf


def _discard(elem: Any) -> None:
    """Free an element that has been read, and its already-read previous siblings."""
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _is_price(value: str) -> bool:
    """Digits with at most one decimal point (no sign, exponent, spaces, NaN): cheap, as it runs per zone."""
    return 0 < len(value) <= MAX_PRICE_LENGTH and value.replace(".", "", 1).isdigit() and value.isascii()


def _identifier(elem: Any, name: str) -> str:
    value = elem.get(name)
    if value is None or not value.strip():
        raise ValueError(f"{name}: missing")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{name}: longer than {MAX_ID_LENGTH} characters")
    return str(value.strip())


def _instant(elem: Any, name: str) -> datetime:
    value = elem.get(name)
    if value is None:
        raise ValueError(f"{name}: missing")
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {value!r} is {exc}") from exc


def _title(base: Any) -> str:
    title = base.get("title")
    if title is None or not title.strip():
        raise ValueError("title: missing")
    if len(title) > MAX_TITLE_LENGTH:
        raise ValueError(f"title: longer than {MAX_TITLE_LENGTH} characters")
    return str(title)


class _NoTarget:
    """A parser target that builds nothing: parsing only checks the document."""

    def close(self) -> None:
        return None


def check_well_formed(source: IO[bytes], pause: Callable[[], None] = lambda: None) -> None:
    """Raise ``FeedError`` unless the whole document is well-formed XML (read in chunks, nothing kept;
    ``pause`` is called between chunks)."""
    parser = etree.XMLParser(target=_NoTarget(), **PARSER_OPTIONS)
    try:
        while chunk := source.read(CHECK_CHUNK):
            parser.feed(chunk)
            pause()
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"not a well-formed XML feed: {exc}") from exc


class FeedReader:
    """Iterates over a feed's valid online plans and its issues; counts what it skips.

    >>> reader = FeedReader(open("feed.xml", "rb"))
    >>> for item in reader: ...   # FeedPlan | FeedIssue, in document order
    >>> reader.offline, reader.invalid
    """

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._zones = _Zones()
        self._seen: set[tuple[str, str]] = set()
        self.offline = 0
        self.invalid = 0
        self.root: Any = None
        """The document's root element once parsing started: what is left of the tree (for inspection)."""

    def __iter__(self) -> Iterator[FeedPlan | FeedIssue]:
        events = etree.iterparse(
            self._source,
            events=("end",),
            tag=("zone", "event", "base_event"),
            **PARSER_OPTIONS,
            remove_comments=True,
            remove_pis=True,
        )
        checked = False
        try:
            for _, elem in events:
                if not checked:
                    self.root = elem.getroottree().getroot()
                    self._check_root(self.root)
                    checked = True
                yield from self._on_end(elem)
        except etree.XMLSyntaxError as exc:
            raise FeedError(f"not a well-formed XML feed: {exc}") from exc
        self._check_root(events.root)

    @staticmethod
    def _check_root(root: Any) -> None:
        tag = getattr(root, "tag", None)
        if tag != ROOT_TAG:
            raise FeedError(f"not a provider feed: the root element is {tag!r}, expected {ROOT_TAG!r}")

    def _on_end(self, elem: Any) -> Iterator[FeedPlan | FeedIssue]:
        tag = elem.tag
        if tag == "zone":
            self._on_zone(elem)
        elif tag == "event":
            zones, self._zones = self._zones, _Zones()
            items = [*zones.issues, self._on_event(elem, zones)]
            for item in items:
                if isinstance(item, FeedIssue):
                    self.invalid += 1
                if item is not None:
                    yield item
        _discard(elem)

    def _on_zone(self, zone: Any) -> None:
        event = zone.getparent()
        if event is None or event.tag != "event":
            return
        value = zone.get("price")
        if value is None or not _is_price(value):
            reason = "price: missing" if value is None else f"price: {value!r} is not a non-negative decimal number"
            base = event.getparent()
            base_id = base.get("base_event_id") if base is not None else None
            self._zones.issues.append(FeedIssue(zone.sourceline, "zone", reason, base_id, event.get("event_id")))
            return
        price = float(value)
        if price < self._zones.low:
            self._zones.low = price
        if price > self._zones.high:
            self._zones.high = price

    def _on_event(self, event: Any, zones: _Zones) -> FeedPlan | FeedIssue | None:
        base = event.getparent()
        try:
            plan = self._plan(base, event, zones)
        except ValueError as exc:
            base_id = base.get("base_event_id") if base is not None else None
            return FeedIssue(event.sourceline, "event", str(exc), base_id, event.get("event_id"))
        key = (plan.base_event_id, plan.event_id)
        if key in self._seen:
            return FeedIssue(event.sourceline, "event", "duplicate of an earlier event in this feed", *key)
        self._seen.add(key)
        if base.get("sell_mode") != "online":
            self.offline += 1
            return None
        return plan

    @staticmethod
    def _plan(base: Any, event: Any, zones: _Zones) -> FeedPlan:
        if base is None or base.tag != "base_event":
            raise ValueError("event outside a base_event")
        if base.get("sell_mode") is None:
            raise ValueError("sell_mode: missing")
        starts_at = _instant(event, "event_start_date")
        ends_at = _instant(event, "event_end_date")
        if ends_at < starts_at:
            raise ValueError("event_end_date: before event_start_date")
        if zones.empty:
            raise ValueError("zone: no zone with a valid price")
        return FeedPlan(
            base_event_id=_identifier(base, "base_event_id"),
            event_id=_identifier(event, "event_id"),
            title=_title(base),
            starts_at=starts_at,
            ends_at=ends_at,
            min_price=zones.low,
            max_price=zones.high,
        )
