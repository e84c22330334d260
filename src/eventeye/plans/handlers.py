"""The plans module's background work: syncing the provider's feed every interval."""

from __future__ import annotations

import asyncio
import logging
import random

from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.plans.providers import CircuitBreaker, ProviderClient, RetryPolicy
from eventeye.plans.repository import version_stamp
from eventeye.plans.sync import Syncer

logger = logging.getLogger("eventeye.plans")


def build_syncer(settings: Settings, engine: AsyncEngine, *, url: str | None = None) -> Syncer:
    """A syncer for the configured provider (or ``url``), with this process's circuit breaker."""
    target = url or settings.plans_provider_url
    if not target:
        raise ValueError("no provider URL: set EVENTEYE_PLANS_PROVIDER_URL")
    client = ProviderClient(
        target,
        timeout=settings.plans_provider_timeout.total_seconds(),
        deadline=settings.plans_provider_deadline.total_seconds(),
        max_bytes=settings.plans_max_feed_bytes,
        retry=RetryPolicy(
            retries=settings.plans_provider_retries, base=settings.plans_provider_backoff.total_seconds()
        ),
        breaker=CircuitBreaker(
            threshold=settings.plans_breaker_threshold, reset_after=settings.plans_breaker_reset.total_seconds()
        ),
    )
    return Syncer(
        engine=engine,
        client=client,
        provider=settings.plans_provider_name,
        lease_ttl=settings.plans_sync_lease_ttl,
        parser_nice=settings.plans_sync_nice,
        parser_idle=settings.plans_sync_idle,
        cpu_share=settings.plans_sync_cpu_share,
        stamp=version_stamp(engine),
    )


async def sync_periodically(syncer: Syncer, interval: float) -> None:
    """Sync now and then every ``interval`` seconds (±10%, so that workers drift apart), forever."""
    while True:
        try:
            await syncer.run(trigger="schedule")
        except Exception:
            # The database may be down; the run could not even be recorded. Try again next time.
            logger.exception("plans sync could not run")
        await asyncio.sleep(interval * random.uniform(0.9, 1.1))
