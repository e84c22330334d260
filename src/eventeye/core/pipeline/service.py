"""The pipeline as one object: accept into the inbox, process into the store."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.core.pipeline.envelope import Envelope, Rejection
from eventeye.core.pipeline.inbox import DatabaseInbox, Inbox, InboxSource
from eventeye.core.pipeline.inbox_file import FileInbox, InboxFile, inbox_file_path
from eventeye.core.pipeline.processor import Handler, Processor, StoreHook
from eventeye.core.pipeline.registry import SchemaRegistry
from eventeye.core.storage.driver import DriverPool
from eventeye.core.storage.engine import write_transaction
from eventeye.core.tasks import TaskSpec


class Pipeline:
    """Accept -> inbox -> processor -> store hooks; modules plug in handlers and schemas."""

    def __init__(self, engine: AsyncEngine, settings: Settings, *, driver: DriverPool | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = SchemaRegistry()
        self.registry.configure(settings.event_schemas)
        self.table_inbox = _embedded_inbox(engine, settings, driver)
        self.inbox: Inbox = self.table_inbox
        self.source: InboxSource = self.table_inbox
        self.processor = Processor(engine, settings, self.registry)
        self.sources: dict[str, InboxSource] = {}

    def add_handler(self, module: str, handler: Handler) -> None:
        self.processor.handlers[module] = handler

    def add_event_type(self, module: str, type: str, schema: dict[str, Any]) -> None:
        """A built-in payload schema (configuration and the admin API may override it)."""
        self.registry.add_builtin(module, type, schema)

    def add_hook(self, hook: StoreHook) -> None:
        self.processor.hooks.append(hook)

    def add_source(self, name: str, source: InboxSource) -> None:
        """Process ``source`` (a Kafka topic, say) in a loop of its own in worker processes.

        A source that is an async context manager is entered before its loop
        starts and exited when it stops (or crashes, before it is restarted).
        """
        if name in self.sources:
            raise ValueError(f"a source named {name!r} is already added")
        self.sources[name] = source

    async def _run_source(self, source: InboxSource) -> None:
        if isinstance(source, AbstractAsyncContextManager):
            async with source:
                await self.processor.run(source)
        else:
            await self.processor.run(source)

    async def accept(self, envelopes: Sequence[Envelope]) -> None:
        """Make ``envelopes`` durable in the inbox; ``RateLimited`` when the backlog is full."""
        self.inbox.check_capacity()
        await self.inbox.append(envelopes)

    async def reject(self, rejections: Sequence[Rejection]) -> None:
        """Record events refused at the door, so that they can be monitored."""
        async with write_transaction(self.engine) as conn:
            await pipeline_repository.insert_errors(conn, rejections=rejections, at=datetime.now(UTC))

    async def close(self) -> None:
        """Release the embedded inbox's connections (once the tasks using it have stopped)."""
        await self.table_inbox.close()

    def tasks(self, roles: set[str]) -> list[TaskSpec]:
        specs = []
        if "api" in roles and self.inbox is self.table_inbox:
            specs.append(TaskSpec("inbox-writer", self.table_inbox.run_writer))
            specs.append(TaskSpec("inbox-backlog", self.table_inbox.run_backlog_monitor))
        if "worker" in roles and self.processor.handlers:
            specs.append(TaskSpec("processor", lambda: self.processor.run(self.source)))
            if isinstance(self.table_inbox, FileInbox):
                specs.append(TaskSpec("inbox-pruner", self.table_inbox.run_pruner))
            elif self.table_inbox.driver is not None:
                specs.append(TaskSpec("inbox-vacuum", self.table_inbox.run_vacuum))
        if "worker" in roles:
            specs += [TaskSpec(f"processor:{name}", partial(self._run_source, s)) for name, s in self.sources.items()]
        return specs


def _embedded_inbox(engine: AsyncEngine, settings: Settings, driver: DriverPool | None) -> DatabaseInbox:
    """The inbox table, or on a SQLite file its own file beside the database (see ``inbox_file``)."""
    batch, backlog = settings.inbox_batch_size, settings.inbox_max_backlog
    linger = settings.inbox_max_wait.total_seconds()
    path = inbox_file_path(engine)
    if path is not None:
        return FileInbox(engine, InboxFile(path), max_batch=batch, max_backlog=backlog, linger=linger)
    return DatabaseInbox(engine, max_batch=batch, max_backlog=backlog, linger=linger, driver=driver)
