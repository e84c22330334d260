"""Background work of the criticality module.

The latest-state gauge is refreshed from the database, so that every
process reports the state other processes received. Polls are logged in
memory and written in batches: each app's poll count and last poll time, and
a fact per poll for the rules (the silent-consumer absence rule).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.config import Settings
from eventeye.core.deferred import Deferred
from eventeye.core.pipeline.envelope import Fact, new_event_id
from eventeye.core.runtime import Runtime
from eventeye.core.storage.engine import read_transaction
from eventeye.criticality import repository as criticality_repository
from eventeye.criticality import service as criticality_service
from eventeye.criticality.metrics import LatestGauge

logger = logging.getLogger("eventeye.criticality")

EXTENSION = "criticality"
POLLS_EXTENSION = "criticality.polls"
KNOWN_EXTENSION = "criticality.known"
MODULE = "criticality"
POLL = "poll"
SILENT_CONSUMER_RULE = "criticality.silent-consumer"
GAUGE_REFRESH_SECONDS = 5.0


def latest_gauge(runtime: Runtime) -> LatestGauge:
    """This process's latest-state gauge (created on first use)."""
    gauge = runtime.extensions.setdefault(EXTENSION, LatestGauge())
    assert isinstance(gauge, LatestGauge)
    return gauge


async def refresh_latest_gauge(runtime: Runtime) -> None:
    """Offer the stored latest state to the gauge."""
    async with read_transaction(runtime.engine) as conn:
        state = await criticality_repository.get_latest(conn)
    latest_gauge(runtime).offer(state)


async def keep_latest_gauge(runtime: Runtime, *, every: float = GAUGE_REFRESH_SECONDS) -> None:
    """Refresh the gauge forever; a failed refresh is logged and retried on the next round."""
    while True:
        try:
            await refresh_latest_gauge(runtime)
        except Exception:  # a database hiccup must not stop the metrics
            logger.warning("could not refresh the criticality gauge", exc_info=True)
        await asyncio.sleep(every)


def silent_consumer_rule(settings: Settings) -> dict[str, Any]:
    """The default rule: a consumer app that has not polled for the consumer timeout, once per silence."""
    return {
        "name": SILENT_CONSUMER_RULE,
        "kind": "absence",
        "types": [POLL],
        "key": ["app"],
        "silence": settings.criticality_consumer_timeout.total_seconds(),
    }


def poll_log(runtime: Runtime) -> Deferred[tuple[str, datetime]]:
    """This process's log of polls (app, time), written in batches by its task (created on first use)."""
    log = runtime.extensions.get(POLLS_EXTENSION)
    if log is None:

        async def write(conn: AsyncConnection, polls: list[tuple[str, datetime]]) -> None:
            await runtime.rules.observe(conn, [poll_fact(app_name, at) for app_name, at in polls])
            # Last, just before the commit: these row locks hold up the polls that claim a state.
            await criticality_repository.record_polls(conn, criticality_service.count_polls(polls))

        settings = runtime.settings
        log = Deferred(
            runtime.engine,
            write,
            name="criticality-polls",
            delay=settings.deferred_write_delay.total_seconds(),
            max_pending=settings.deferred_max_pending,
        )
        runtime.extensions[POLLS_EXTENSION] = log
    assert isinstance(log, Deferred)
    return log


def known_consumers(runtime: Runtime) -> set[str]:
    """Apps this process knows to have a consumer row (so that a poll need not create it)."""
    known = runtime.extensions.setdefault(KNOWN_EXTENSION, set())
    assert isinstance(known, set)
    return known


def poll_fact(app_name: str, at: datetime) -> Fact:
    """A consumer's poll, as the rules see it."""
    return Fact(
        event_id=new_event_id(), module=MODULE, type=POLL, source=app_name, occurred_at=at, attributes={"app": app_name}
    )
