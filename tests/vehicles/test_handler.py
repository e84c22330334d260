"""Processing detections: idempotent on the event id within and across batches, projections counted once."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.pipeline.envelope import Envelope, new_event_id
from eventeye.core.runtime import Runtime
from eventeye.core.storage.engine import write_transaction
from eventeye.vehicles import repository as vehicles_repository
from tests.vehicles.conftest import CIVIC, LAND_CRUISER, stored


def envelope(body: dict[str, object], **changes: object) -> Envelope:
    values: dict[str, object] = {
        "id": new_event_id(),
        "module": "vehicles",
        "type": "detection",
        "source": "camera",
        "received_at": datetime.now(UTC),
        "body": orjson.dumps(body),
    }
    return Envelope(**(values | changes))  # type: ignore[arg-type]


async def apply(runtime: Runtime, envelopes: list[Envelope]) -> int:
    async with write_transaction(runtime.engine) as conn:
        facts = await runtime.pipeline.processor.apply(conn, envelopes)
    return len(facts)


class TestIdempotence:
    async def test_an_event_seen_twice_in_a_batch_or_across_batches_is_stored_and_counted_once(
        self, app: FastAPI, engine: AsyncEngine
    ) -> None:
        runtime: Runtime = app.state.runtime
        suv, sedan = envelope(LAND_CRUISER), envelope(CIVIC)

        first = await apply(runtime, [suv, sedan, suv])
        again = await apply(runtime, [sedan, suv, envelope(CIVIC)])

        assert (first, again) == (2, 1)
        assert await stored(engine) == 3
        async with engine.connect() as conn:
            assert await vehicles_repository.count_by_make(conn, start=None, end=None) == [("Honda", 2), ("Toyota", 1)]
            assert await vehicles_repository.count_detections(conn) == 3

    async def test_a_body_that_is_not_a_detection_is_rejected_alone(self, app: FastAPI, engine: AsyncEngine) -> None:
        runtime: Runtime = app.state.runtime
        broken = Envelope(new_event_id(), "vehicles", "detection", "camera", datetime.now(UTC), b'{"Year": 2011}')

        assert await apply(runtime, [broken, envelope(CIVIC)]) == 1
        assert await stored(engine) == 1
