"""What to do with eventeye's answer: done, retry (and when), split, or give up."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRY_AFTER_CAP = 300.0  # never sleep longer than this on a server's say-so


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` when the server gives one."""

    max_retries: int
    initial: float
    maximum: float

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            # A little jitter on top, so that many clients told the same thing do not return at once.
            return min(retry_after, RETRY_AFTER_CAP) + random.uniform(0, self.initial)
        ceiling = min(self.maximum, self.initial * 2 ** (retry - 1))
        return random.uniform(0, ceiling)


@dataclass(frozen=True, slots=True)
class Accepted:
    pass


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class TooLarge:
    reason: str


@dataclass(frozen=True, slots=True)
class Refused:
    """A 4xx: never retried. ``items`` are the items a 400/422 named, with why (the rest were fine)."""

    reason: str
    status: int
    items: dict[int, str] = field(default_factory=dict)


Outcome = Accepted | Retry | TooLarge | Refused


def classify(reply: httpx.Response | httpx.TransportError) -> Outcome:
    """Map a response, or the network error that replaced it, to what happens next."""
    if isinstance(reply, httpx.TransportError):
        return Retry(reason=f"{type(reply).__name__}: {reply}".rstrip(": "))
    status = reply.status_code
    if 200 <= status < 300:
        return Accepted()
    reason = f"{status}: {_message(reply)}"
    if status == 429 or status >= 500:
        return Retry(reason=reason, status=status, retry_after=parse_retry_after(reply.headers.get("Retry-After")))
    if status == 413:
        return TooLarge(reason=reason)
    if status in (400, 422):
        return Refused(reason=reason, status=status, items=_item_reasons(reply))
    return Refused(reason=reason, status=status)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number of seconds or an HTTP date); ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error(reply: httpx.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _message(reply: httpx.Response) -> str:
    message = _error(reply).get("message")
    return str(message) if message else (reply.reason_phrase or "error")


def _item_reasons(reply: httpx.Response) -> dict[int, str]:
    details = _error(reply).get("details")
    reasons: dict[int, list[str]] = {}
    for detail in details if isinstance(details, list) else ():
        index = detail.get("index") if isinstance(detail, dict) else None
        if isinstance(index, int) and index >= 0:
            reasons.setdefault(index, []).append(f"{detail.get('field', '?')}: {detail.get('reason', 'invalid')}")
    return {index: "; ".join(parts) for index, parts in reasons.items()}
