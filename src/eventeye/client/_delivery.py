"""Delivering one batch, without I/O: a generator that says what to do and is told what happened.

``deliver`` yields ``Post(body)`` (send it, reply with the response or the
``httpx.TransportError``) and ``Wait(seconds)`` (sleep before a retry, reply ``None``); either
may be answered ``ABORTED`` when the client is closing and has run out of
time. It returns a ``Report``. The sync and async clients drive the same
generator, so both retry, split and give up in exactly the same way::

    delivery = deliver(batch, policy)
    step = next(delivery)
    while True:
        reply = do(step)                 # post or sleep
        try:
            step = delivery.send(reply)
        except StopIteration as done:
            report = done.value
            break
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field

import httpx

from eventeye.client._events import Queued, encode_batch
from eventeye.client._models import DeliveryFailure, FailureKind
from eventeye.client._retry import Accepted, Outcome, Refused, Retry, RetryPolicy, TooLarge, classify


class Aborted:
    """The reply that stops a delivery: the client is closing and out of time."""


ABORTED = Aborted()


@dataclass(frozen=True, slots=True)
class Post:
    body: bytes


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


Step = Post | Wait
Reply = httpx.Response | httpx.TransportError | Aborted | None


@dataclass(slots=True)
class Report:
    """What became of a batch."""

    sent: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)

    def fail(self, kind: FailureKind, reason: str, events: list[Queued], status: int | None = None) -> None:
        self.failures.append(DeliveryFailure(kind, reason, [e.event() for e in events], status))


Delivery = Generator[Step, Reply, Report]


def deliver(batch: list[Queued], policy: RetryPolicy) -> Delivery:
    """Send ``batch`` until every event in it is stored, refused, or given up on."""
    report = Report()
    chunks = deque([batch])
    while chunks:
        chunk = chunks.popleft()
        follow_up = yield from _send(chunk, policy, report)
        if follow_up is ABORTED:
            report.fail("failed", "the client closed before delivering them", [e for c in (chunk, *chunks) for e in c])
            break
        assert isinstance(follow_up, list)
        chunks.extendleft(reversed(follow_up))
    return report


def _send(
    chunk: list[Queued], policy: RetryPolicy, report: Report
) -> Generator[Step, Reply, list[list[Queued]] | Aborted]:
    """One chunk with its retries; returns the chunks still to send (after a split), or ``ABORTED``."""
    retries = 0
    while True:
        reply = yield Post(encode_batch(chunk))
        if reply is None or isinstance(reply, Aborted):
            return ABORTED
        outcome = classify(reply)
        if not isinstance(outcome, Retry):
            return _settle(chunk, outcome, report)
        if retries >= policy.max_retries:
            report.fail("failed", f"gave up after {retries} retries: {outcome.reason}", chunk, outcome.status)
            return []
        retries += 1
        if isinstance((yield Wait(policy.delay(retries, outcome.retry_after))), Aborted):
            return ABORTED


def _settle(chunk: list[Queued], outcome: Outcome, report: Report) -> list[list[Queued]]:
    if isinstance(outcome, Accepted):
        report.sent += len(chunk)
        return []
    if isinstance(outcome, TooLarge):
        if len(chunk) > 1:
            half = len(chunk) // 2
            return [chunk[:half], chunk[half:]]
        report.fail("rejected", outcome.reason, chunk, 413)
        return []
    assert isinstance(outcome, Refused)
    named = {index: why for index, why in outcome.items.items() if index < len(chunk)}
    if not named:
        report.fail("rejected", outcome.reason, chunk, outcome.status)
        return []
    for index, why in sorted(named.items()):
        report.fail("rejected", f"{outcome.reason} ({why})", [chunk[index]], outcome.status)
    # The request was refused as a whole because of the named items; the others are fine.
    rest = [event for index, event in enumerate(chunk) if index not in named]
    return [rest] if rest else []
