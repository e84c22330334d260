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
    """Stores detections in one bulk insert per batch; per detection, little more than a JSON parse.

    Bodies were checked before they became envelopes (at the door, or when the
    Kafka record was read) and are canonical JSON; one that is not anyway is
    rejected here, or fails its batch alone (and is quarantined).
    """

    async def handle(self, conn: AsyncConnection, envelopes: Sequence[Envelope], ctx: HandlerContext) -> HandlerResult:
        result = HandlerResult()
        try:
            kept = [(envelope, orjson.loads(envelope.body)) for envelope in envelopes]
            columns = _columns(kept)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            kept, result.rejected = _sort_out(envelopes)
            columns = _columns(kept)
        new = await vehicles_repository.insert_detections(conn, columns=columns, indexed_at=ctx.now)
        makes: Iterable[str] = columns.makes
        if len(new) < len(kept):
            kept = _first_of_new(kept, new)
            makes = [detection["Make"] for _, detection in kept]
        shard = random.randrange(COUNT_SHARDS)
        await vehicles_repository.add_make_counts(conn, counts=Counter(makes), shard=shard)
        result.stored = [
            Fact(envelope.id, MODULE, DETECTION, envelope.source, envelope.received_at, detection)
            for envelope, detection in kept
        ]
        return result


def _columns(kept: list[Kept]) -> Columns:
    return Columns(
        ids=[envelope.id for envelope, _ in kept],
        years=[detection["Year"] for _, detection in kept],
        makes=[detection["Make"] for _, detection in kept],
        models=[detection["Model"] for _, detection in kept],
        categories=[detection["Category"] for _, detection in kept],
    )


def _sort_out(envelopes: Sequence[Envelope]) -> tuple[list[Kept], list[Rejection]]:
    """The detections of a batch that holds something else too, and rejections for the rest."""
    kept: list[Kept] = []
    rejected: list[Rejection] = []
    for envelope in envelopes:
        try:
            detection = orjson.loads(envelope.body)
            _columns([(envelope, detection)])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            rejected.append(_reject(envelope, "$", "not a detection (Year, Make, Model, Category)"))
            continue
        kept.append((envelope, detection))
    return kept, rejected


def _first_of_new(kept: list[Kept], new: set[uuid.UUID]) -> list[Kept]:
    """The detections just stored: ids in ``new``, each once (a batch may hold an id twice)."""
    fresh = []
    for envelope, detection in kept:
        if envelope.id in new:
            new.discard(envelope.id)
            fresh.append((envelope, detection))
    return fresh
