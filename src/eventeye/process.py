"""Starting and stopping an eventeye process: schema, modules, background tasks."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.modules import ModuleRegistry, Role
from eventeye.core.runtime import build_runtime
from eventeye.core.storage import migrations
from eventeye.core.tasks import Supervisor
from eventeye.errors import EventeyeError
from eventeye.modules import LoadedModule, enabled_modules

logger = logging.getLogger("eventeye")


class SchemaOutdated(EventeyeError):
    """The database schema is behind this version of eventeye."""


async def prepare_schema(settings: Settings, engine: AsyncEngine) -> None:
    """Migrate the embedded database; refuse to run on an out-of-date PostgreSQL schema."""
    if settings.is_embedded:
        await migrations.upgrade(engine)
        return
    missing = await migrations.pending(engine)
    if missing:
        raise SchemaOutdated(
            f"the database schema is not current (pending: {', '.join(sorted(missing))}); run `eventeye migrate` first"
        )


def tune_collector() -> None:
    """Collect the young generation less often and keep what start-up loaded out of full collections.

    Workers allocate in bursts (batches of thousands of events: a third of their time went to the
    young generation with the defaults). API processes keep requests' objects alive across awaits,
    so many reach the oldest generation, and each full collection then walked the whole start-up
    heap (modules, routes, metadata): 65 to 100 ms with every request of the process waiting, one
    to two times a second under load."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@asynccontextmanager
async def running(
    settings: Settings,
    roles: set[Role],
    *,
    engine: AsyncEngine | None = None,
    modules: list[LoadedModule] | None = None,
) -> AsyncIterator[ModuleRegistry]:
    """Run a process with ``roles`` for the duration of the block."""
    runtime = build_runtime(settings, engine=engine)
    supervisor = Supervisor()
    registry = ModuleRegistry(runtime=runtime, roles=roles)
    try:
        await prepare_schema(settings, runtime.engine)
        for module in modules if modules is not None else enabled_modules(settings):
            module.register(registry)
        for hook in registry.on_start:
            await hook(runtime)
        wanted: set[str] = set(roles)
        core_tasks = runtime.pipeline.tasks(wanted) + runtime.rules.tasks(wanted) + runtime.alerts.tasks(wanted)
        for spec in core_tasks + registry.tasks_for(roles):
            supervisor.start(spec)
        tune_collector()
        logger.info(
            "eventeye started (%s) with tasks: %s", "+".join(sorted(roles)), ", ".join(supervisor.names) or "none"
        )
        yield registry
    finally:
        await supervisor.stop()
        for hook in reversed(registry.on_stop):
            await hook(runtime)
        # A given engine is shared (tests): it outlives this process's runtime, its driver pool does not.
        await runtime.close(dispose_engine=engine is None)
