"""Processing detections: store them idempotently on the envelope id, count per make, hand facts to the rules."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.pipeline.envelope import Envelope, Fact, Rejection
from eventeye.core.pipeline.processor import HandlerContext, HandlerResult
from eventeye.vehicles import repository as vehicles_repository
from eventeye.vehicles.repository import Columns
from eventeye.vehicles.schemas import DETECTION, MODULE

Kept = tuple[Envelope, dict[str, Any]]
COUNT_SHARDS = 8


def _reject(envelope: Envelope, field: str | None, reason: str) -> Rejection:
    return Rejection(
        kind="invalid_payload",
        module=MODULE,
        reason=reason,
        field=field,
        type=envelope.type,
        source=envelope.source,
        event_id=envelope.id,
        raw=envelope.body.decode("utf-8", "replace"),
        received_at=envelope.received_at,
    )


class VehiclesHandler:
    """Stores detections in one bulk insert per batch; per detection only a parse and a few appends.

    Bodies were checked before they became envelopes (at the door, or when the
    Kafka record was read) and are canonical JSON; one that is not anyway is
    rejected here, or fails its batch alone (and is quarantined).
    """

    async def handle(self, conn: AsyncConnection, envelopes: Sequence[Envelope], ctx: HandlerContext) -> HandlerResult:
        result = HandlerResult()
        columns = Columns(ids=[], years=[], makes=[], models=[], categories=[])
        kept: list[Kept] = []
        for envelope in envelopes:
            try:
                detection = orjson.loads(envelope.body)
                year, make, model, category = (
                    detection["Year"],
                    detection["Make"],
                    detection["Model"],
                    detection["Category"],
                )
            except (orjson.JSONDecodeError, KeyError, TypeError):
                result.rejected.append(_reject(envelope, "$", "not a detection (Year, Make, Model, Category)"))
                continue
            kept.append((envelope, detection))
            columns.ids.append(envelope.id)
            columns.years.append(year)
            columns.makes.append(make)
            columns.models.append(model)
            columns.categories.append(category)
        new = await vehicles_repository.insert_detections(conn, columns=columns, indexed_at=ctx.now)
        makes: Iterable[str] = columns.makes
        if len(new) < len(kept):
            kept = _first_of_new(kept, new)
            makes = [detection["Make"] for _, detection in kept]
        await vehicles_repository.add_make_counts(conn, counts=Counter(makes), shard=random.randrange(COUNT_SHARDS))
        result.stored = [
            Fact(envelope.id, MODULE, DETECTION, envelope.source, envelope.received_at, detection)
            for envelope, detection in kept
        ]
        return result


def _first_of_new(kept: list[Kept], new: set[uuid.UUID]) -> list[Kept]:
    """The detections just stored: ids in ``new``, each once (a batch may hold an id twice)."""
    fresh = []
    for envelope, detection in kept:
        if envelope.id in new:
            new.discard(envelope.id)
            fresh.append((envelope, detection))
    return fresh
