"""What the client reports: counters, and the events it could not deliver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FailureKind = Literal["rejected", "failed", "dropped"]


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """Events that will not be stored, and why.

    ``rejected``: eventeye refused them (a 4xx other than 429), never retried;
    ``failed``: retries were exhausted or the client closed before delivering them;
    ``dropped``: pushed out of a full buffer (overflow policy "drop_oldest").
    """

    kind: FailureKind
    reason: str
    events: list[dict[str, Any]]
    status: int | None = None


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Counters since the client was created (events unless said otherwise)."""

    queued: int = 0
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    dropped: int = 0
    requests: int = 0
    retries: int = 0


@dataclass(slots=True)
class Counters:
    """The mutable twin of ``ClientStats``, kept under the client's lock."""

    sent: int = 0
    rejected: int = 0
    failed: int = 0
    dropped: int = 0
    requests: int = 0
    retries: int = 0

    def add_failure(self, failure: DeliveryFailure) -> None:
        count = len(failure.events)
        if failure.kind == "rejected":
            self.rejected += count
        elif failure.kind == "failed":
            self.failed += count
        else:
            self.dropped += count
