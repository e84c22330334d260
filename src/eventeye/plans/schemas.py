"""The plans module's values and API models: instants, search queries and sync runs."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

INSTANT = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,32}))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?"
)
"""RFC 3339 date-time; an instant without an offset is taken as UTC (as the provider's are)."""


def parse_instant(value: str) -> datetime:
    """Parse an RFC 3339 instant to an aware UTC datetime; raise ``ValueError`` saying why not.

    Fractions beyond microseconds are truncated; a leap second (``:60``) is read as the end of its minute.
    """
    match = INSTANT.fullmatch(value)
    if match is None:
        raise ValueError("expected an RFC 3339 date-time such as 2021-06-30T21:00:00Z")
    date, time, fraction, offset = match.group("date", "time", "fraction", "offset")
    micro = f".{fraction[:6]:0<6}" if fraction else ""
    if time.endswith(":60"):
        time, micro = f"{time[:-3]}:59", ".999999"
    zone = "+00:00" if offset is None or offset in "Zz" else offset
    try:
        return datetime.fromisoformat(f"{date}T{time}{micro}{zone}").astimezone(UTC)
    except ValueError as exc:
        raise ValueError(f"not a valid date-time ({exc})") from exc
    except OverflowError as exc:
        raise ValueError("out of the supported range of years 1 to 9999 in UTC") from exc


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A normalised `/search` query: both bounds in UTC, each optional. Hashable: the cache key."""

    starts_at: datetime | None
    ends_at: datetime | None


SyncOutcome = Literal["running", "succeeded", "failed"]


class SyncIssueOut(BaseModel):
    """A feed element that was skipped, and why."""

    line: int | None = Field(description="Line of the element in the feed")
    element: str
    base_event_id: str | None
    event_id: str | None
    reason: str


class SyncRunOut(BaseModel):
    """One sync run: when, how it ended, and what it changed."""

    id: uuid.UUID
    provider: str
    trigger: str = Field(description="`schedule` (background task) or `cli` (`eventeye plans sync`)")
    holder: str = Field(description="The process that ran it")
    started_at: datetime
    finished_at: datetime | None
    outcome: SyncOutcome
    error: str | None
    feed_bytes: int
    new: int
    updated: int
    unchanged: int
    invalid: int = Field(description="Elements skipped as malformed (see `issues`, which keeps the first ones)")
    offline: int = Field(description="Valid events skipped because their base event is not sold online")
    issues: list[SyncIssueOut]


class SyncRunList(BaseModel):
    runs: list[SyncRunOut]


class EventSummary(BaseModel):
    """A plan as `/search` lists it (times are UTC)."""

    id: uuid.UUID = Field(description="Stable identifier of the plan")
    title: str
    start_date: str = Field(examples=["2021-06-30"])
    start_time: str = Field(pattern=r"^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$", examples=["21:00:00"])
    end_date: str = Field(examples=["2021-06-30"])
    end_time: str = Field(pattern=r"^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$", examples=["22:00:00"])
    min_price: float = Field(description="Lowest zone price")
    max_price: float = Field(description="Highest zone price")


class SearchData(BaseModel):
    events: list[EventSummary]


class SearchResponse(BaseModel):
    data: SearchData
    error: None = None


class SearchError(BaseModel):
    code: str = Field(examples=["invalid_parameters"])
    message: str = Field(examples=["starts_at: after ends_at"])
    details: list[dict[str, Any]] = Field(default_factory=list, description="Which parameter, and why")


class SearchErrorEnvelope(BaseModel):
    data: None = None
    error: SearchError
