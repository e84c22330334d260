"""Building provider feeds for tests."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

DATA = Path(__file__).parent / "data"
SAMPLE = (DATA / "provider-feed-sample.xml").read_bytes()
"""The provider's own sample: a duplicate event_id across base events, 2021-09-31, an offline base event."""


def _attrs(values: dict[str, str | None]) -> str:
    return " ".join(f"{name}={quoteattr(value)}" for name, value in values.items() if value is not None)


def zone(price: str | None = "20.00", zone_id: str = "1", **extra: str) -> str:
    return f"<zone {_attrs({'zone_id': zone_id, 'capacity': '10', 'price': price, 'name': 'Z', **extra})}/>"


def event(
    event_id: str | None = "1",
    start: str | None = "2021-06-30T21:00:00",
    end: str | None = "2021-06-30T22:00:00",
    zones: tuple[str, ...] = (zone(),),
) -> str:
    attrs = {"event_start_date": start, "event_end_date": end, "event_id": event_id, "sell_from": start, "sell_to": end}
    return f'<event {_attrs(attrs)} sold_out="false">{"".join(zones)}</event>'


def base_event(
    base_event_id: str | None = "1", title: str | None = "A plan", *events: str, sell_mode: str | None = "online"
) -> str:
    attrs = {"base_event_id": base_event_id, "sell_mode": sell_mode, "title": title}
    return f"<base_event {_attrs(attrs)}>{''.join(events or (event(),))}</base_event>"


def feed(*base_events: str) -> bytes:
    body = "".join(base_events)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<eventList version="1.0"><output>{body}</output></eventList>'.encode()
    )
