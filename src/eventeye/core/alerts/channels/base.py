"""The channel port: deliver a batch of alert deliveries, say how each one went."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from eventeye.core.alerts.repository import Alert, Delivery, Webhook


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery to attempt: the outbox row, its alert and (for webhooks) the endpoint."""

    delivery: Delivery
    alert: Alert
    webhook: Webhook | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt went; ``permanent`` failures are not retried."""

    ok: bool
    status: int | None = None
    error: str | None = None
    permanent: bool = False


class Channel(Protocol):
    """Delivers alerts somewhere.

    ``deliver`` returns one ``Outcome`` per job, in order, and never raises for
    a failed delivery: the worker records the outcome and retries later::

        outcomes = await channel.deliver(jobs)
        assert len(outcomes) == len(jobs)
    """

    async def deliver(self, jobs: Sequence[Job]) -> list[Outcome]: ...

    async def close(self) -> None: ...
