"""Processing detections: validate, store idempotently on the envelope id, count per make, hand facts to the rules."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.pipeline.envelope import Envelope, Fact, Rejection
from eventeye.core.pipeline.kafka_source import InvalidRecord
from eventeye.core.pipeline.processor import HandlerContext, HandlerResult
from eventeye.vehicles import repository as vehicles_repository
from eventeye.vehicles.repository import Columns
from eventeye.vehicles.schemas import DETECTION, MODULE
from eventeye.vehicles.service import check_detection


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
    """Stores detections in one bulk insert per batch; per detection only a parse and a few appends."""

    async def handle(self, conn: AsyncConnection, envelopes: Sequence[Envelope], ctx: HandlerContext) -> HandlerResult:
        result = HandlerResult()
        columns = Columns(ids=[], years=[], makes=[], models=[], categories=[])
        kept: list[Envelope] = []
        seen: set[object] = set()
        for envelope in envelopes:
            if envelope.id in seen:
                continue
            try:
                year, make, model, category = check_detection(orjson.loads(envelope.body))
            except orjson.JSONDecodeError:
                result.rejected.append(_reject(envelope, "$", "not valid JSON"))
                continue
            except InvalidRecord as exc:
                result.rejected.append(_reject(envelope, exc.field, exc.reason))
                continue
            seen.add(envelope.id)
            kept.append(envelope)
            columns.ids.append(envelope.id)
            columns.years.append(year)
            columns.makes.append(make)
            columns.models.append(model)
            columns.categories.append(category)
        new = await vehicles_repository.insert_detections(conn, columns=columns, indexed_at=ctx.now)
        if len(new) == len(kept):
            await vehicles_repository.add_make_counts(conn, counts=Counter(columns.makes))
            result.stored = [_fact(e, columns, i) for i, e in enumerate(kept)]
            return result
        fresh = [i for i, envelope in enumerate(kept) if envelope.id in new]
        await vehicles_repository.add_make_counts(conn, counts=Counter(columns.makes[i] for i in fresh))
        result.stored = [_fact(kept[i], columns, i) for i in fresh]
        return result


def _fact(envelope: Envelope, columns: Columns, index: int) -> Fact:
    return Fact(
        event_id=envelope.id,
        module=MODULE,
        type=DETECTION,
        source=envelope.source,
        occurred_at=envelope.received_at,
        attributes={
            "Year": columns.years[index],
            "Make": columns.makes[index],
            "Model": columns.models[index],
            "Category": columns.categories[index],
        },
    )
