"""Helpers of the pipeline's tests: a handler whose every result is visible, envelopes, appends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.core.pipeline.envelope import Envelope, Rejection, new_event_id
from eventeye.core.pipeline.inbox import DatabaseInbox
from eventeye.core.pipeline.processor import HandlerContext, HandlerResult
from eventeye.core.storage.tables import errors


class Refuser:
    """A handler that refuses every event: each processed event leaves exactly one row in ``errors``."""

    async def handle(self, conn: AsyncConnection, envelopes: Sequence[Envelope], ctx: HandlerContext) -> HandlerResult:
        return HandlerResult(
            rejected=[Rejection(kind="test", module="things", reason="r", event_id=e.id) for e in envelopes]
        )


def envelopes(count: int, body: bytes = b"{}") -> list[Envelope]:
    at = datetime.now(UTC)
    return [
        Envelope(id=new_event_id(), module="things", type="t", source="s", received_at=at, body=body)
        for _ in range(count)
    ]


async def append(inbox: DatabaseInbox, items: list[Envelope]) -> None:
    """Append ``items`` as one request would, with the inbox's writer running meanwhile."""
    writer = asyncio.create_task(inbox.run_writer())
    try:
        await asyncio.sleep(0)
        await inbox.append(items)
    finally:
        writer.cancel()


async def processed_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return sorted(str(row.event_id) for row in await conn.execute(select(errors.c.event_id)))
