"""``/v1/errors`` (what did not become an event, and why) and ``/v1/schemas`` (payload schemas)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from eventeye.core.auth.dependencies import AdminAccess, DbConn, ReadAccess, ReadConn, RuntimeDep
from eventeye.core.pagination import decode_cursor, encode_cursor
from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.core.pipeline.api_models import ErrorItem, ErrorPage
from eventeye.core.pipeline.registry import compile_schema
from eventeye.errors import NotFound

router = APIRouter(prefix="/v1", tags=["pipeline"])


def _item(record: pipeline_repository.ErrorRecord) -> ErrorItem:
    return ErrorItem(
        id=record.id,
        kind=record.kind,
        module=record.module,
        type=record.type,
        app=record.source,
        event_id=record.event_id,
        field=record.field,
        reason=record.reason,
        raw=record.raw,
        received_at=record.received_at,
        created_at=record.created_at,
    )


@router.get("/errors", response_model=ErrorPage)
async def list_errors(
    conn: ReadConn,
    _: ReadAccess,
    kind: str | None = None,
    module: str | None = None,
    app: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> ErrorPage:
    """Errors newest first: events refused at the door and events that failed processing."""
    where = pipeline_repository.ErrorFilter(kind=kind, module=module, source=app, start=start, end=end)
    records = await pipeline_repository.list_errors(conn, where=where, limit=limit, after=decode_cursor(cursor))
    next_cursor = encode_cursor(records[-1].created_at, records[-1].id) if len(records) == limit else None
    return ErrorPage(items=[_item(r) for r in records], next_cursor=next_cursor)


@router.get("/errors/{error_id}", response_model=ErrorItem)
async def get_error(error_id: uuid.UUID, conn: ReadConn, _: ReadAccess) -> ErrorItem:
    record = await pipeline_repository.get_error(conn, error_id=error_id)
    if record is None:
        raise NotFound(f"no error {error_id}")
    return _item(record)


@router.get("/schemas")
async def list_schemas(runtime: RuntimeDep, _: ReadAccess) -> list[dict[str, Any]]:
    """Every effective payload schema, by module and event type."""
    schemas = runtime.pipeline.registry.schemas()
    return [{"module": m, "type": t, "schema": s} for (m, t), s in sorted(schemas.items())]


@router.put("/schemas/{module}/{type:path}")
async def put_schema(
    module: str,
    type: str,
    schema: Annotated[dict[str, Any], Body(description="A JSON Schema for the event's payload")],
    conn: DbConn,
    runtime: RuntimeDep,
    _: AdminAccess,
) -> dict[str, Any]:
    """Add or replace the payload schema of an event type, without a restart."""
    compile_schema(schema)
    await pipeline_repository.save_schema(conn, module=module, type=type, schema=schema, at=datetime.now(UTC))
    await runtime.pipeline.registry.refresh(conn, force=True)
    return {"module": module, "type": type, "schema": schema}


@router.delete("/schemas/{module}/{type:path}", status_code=204)
async def delete_schema(module: str, type: str, conn: DbConn, runtime: RuntimeDep, _: AdminAccess) -> Response:
    """Remove a saved schema; the configured or built-in one applies again."""
    if not await pipeline_repository.delete_schema(conn, module=module, type=type):
        raise NotFound(f"no saved schema for {module}/{type}")
    await runtime.pipeline.registry.refresh(conn, force=True)
    return Response(status_code=204)
