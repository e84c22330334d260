"""The per-process runtime: settings, engine and the shared services that requests use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings, resolve_secret_key
from eventeye.core.alerts.service import Alerts
from eventeye.core.auth.ratelimit import FailureLimiter
from eventeye.core.auth.service import ApiKeyResolver
from eventeye.core.auth.tokens import TokenIssuer
from eventeye.core.pipeline.service import Pipeline
from eventeye.core.rules.engine import RulesEngine
from eventeye.core.storage.driver import DriverPool
from eventeye.core.storage.engine import create_engine


@dataclass
class Runtime:
    """Everything a process shares between requests and background tasks."""

    settings: Settings
    engine: AsyncEngine
    tokens: TokenIssuer
    api_keys: ApiKeyResolver
    login_by_user: FailureLimiter
    login_by_address: FailureLimiter
    pipeline: Pipeline
    alerts: Alerts
    rules: RulesEngine
    """The rules engine: ``rules.observe(conn, facts)`` evaluates facts from outside the inbox."""
    driver: DriverPool | None = None
    """PostgreSQL only: a pool for single statements run on the driver itself (see ``storage.driver``)."""
    extensions: dict[str, Any] = field(default_factory=dict)
    """Per-module state, keyed by module name."""

    async def close(self, *, dispose_engine: bool = True) -> None:
        """Release what the process holds; ``dispose_engine=False`` when the engine was given (it is shared)."""
        await self.api_keys.drain()
        await self.pipeline.close()
        if self.driver is not None:
            await self.driver.close()
        if dispose_engine:
            await self.engine.dispose()


def build_runtime(settings: Settings, *, engine: AsyncEngine | None = None) -> Runtime:
    """Wire the runtime for ``settings`` (the engine may be shared, as in tests)."""
    engine = engine or create_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    window = settings.login_failure_window.total_seconds()
    secret_key = resolve_secret_key(settings)
    driver = (
        DriverPool(settings.resolved_database_url, size=settings.database_driver_pool_size)
        if engine.dialect.name == "postgresql"
        else None
    )
    pipeline = Pipeline(engine, settings, driver=driver)
    alerts = Alerts(engine, settings, secret_key=secret_key)
    rules = RulesEngine(engine, settings, alerts)
    pipeline.add_hook(rules)
    return Runtime(
        settings=settings,
        engine=engine,
        tokens=TokenIssuer(
            secret_key=secret_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=settings.access_token_ttl,
        ),
        api_keys=ApiKeyResolver(engine=engine, ttl=settings.api_key_cache_ttl.total_seconds()),
        login_by_user=FailureLimiter(limit=settings.login_max_failures, window=window),
        login_by_address=FailureLimiter(limit=settings.login_max_failures * 4, window=window),
        pipeline=pipeline,
        alerts=alerts,
        rules=rules,
        driver=driver,
    )
