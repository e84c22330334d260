"""The log channel: one structured line per alert."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from eventeye.core.alerts.channels.base import Job, Outcome

logger = logging.getLogger("eventeye.alerts")

LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class LogChannel:
    """Writes each alert to the ``eventeye.alerts`` logger at the sink's level."""

    async def deliver(self, jobs: Sequence[Job]) -> list[Outcome]:
        for job in jobs:
            alert = job.alert
            logger.log(
                LEVELS.get(job.delivery.target, logging.WARNING),
                "alert %s: rule %s, module %s, key %r",
                alert.id,
                alert.rule,
                alert.module,
                alert.key,
                extra={"alert": alert.as_json()},
            )
        return [Outcome(ok=True) for _ in jobs]

    async def close(self) -> None:
        return None
