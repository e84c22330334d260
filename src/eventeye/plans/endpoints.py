"""`GET /search` at the provider-integration contract, and `GET /v1/plans/syncs`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from eventeye.core.auth.dependencies import Public, ReadAccess, ReadConn
from eventeye.errors import envelope_route
from eventeye.plans import service as plans_service
from eventeye.plans.schemas import SearchErrorEnvelope, SearchResponse, SyncRunList, SyncRunOut

JSON = "application/json"
CONTRACT_STATUSES = frozenset({400, 500})


def render_search_error(status: int, code: str, message: str, details: list[dict[str, Any]]) -> Response:
    """Every error of `/search` in its contract's envelope; the contract knows only 400 and 500."""
    status = status if status in CONTRACT_STATUSES else 500
    return Response(plans_service.render_error(code, message, details), status, media_type=JSON)


router = APIRouter(tags=["plans"], route_class=envelope_route(render_search_error))
"""The module's router: `/search` first and at the top (fewer routes to match), then `/v1/plans`."""
v1_router = APIRouter(prefix="/v1/plans", tags=["plans"])

OPENAPI_PARAMETERS = [
    {
        "in": "query",
        "name": name,
        "required": False,
        "description": f"{description} (RFC 3339; an instant without an offset is UTC)",
        "schema": {"type": "string", "format": "date-time", "example": example},
    }
    for name, description, example in (
        ("starts_at", "Only plans that start at or after this instant", "2021-06-30T00:00:00Z"),
        ("ends_at", "Only plans that end at or before this instant", "2021-07-31T23:59:59Z"),
    )
]


# The parameters are read from the query string by the service (which also refuses repeats), and
# documented through ``openapi_extra``: the hot path resolves no FastAPI parameters at all.
@router.get(
    "/search",
    summary="Lists the plans that were ever available online in a time range",
    response_model=SearchResponse,
    responses={400: {"model": SearchErrorEnvelope}, 500: {"model": SearchErrorEnvelope}},
    openapi_extra={"parameters": OPENAPI_PARAMETERS},
)
async def search(request: Request, _: Public) -> Response:
    """Plans whose start is at or after `starts_at` and whose end is at or before `ends_at`, by start.
    Answers from this service's own store, whatever the provider is doing."""
    plans: plans_service.PlanSearch = request.app.state.runtime.extensions["plans"].search
    body = await plans.search(plans.query_of(request.scope["query_string"]))
    return Response(body, media_type=JSON)


@router.api_route("/search", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def search_other_methods(request: Request, _: Public) -> Response:
    """Other methods get the contract's envelope too, not the `/v1` error shape."""
    body = plans_service.render_error("method_not_allowed", f"{request.method} is not allowed; use GET", [])
    return Response(body, 405, headers={"Allow": "GET"}, media_type=JSON)


@v1_router.get("/syncs", response_model=SyncRunList)
async def list_syncs(
    conn: ReadConn,
    _: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=100, description="How many runs")] = 20,
    offset: Annotated[int, Query(ge=0, description="How many of the latest runs to skip")] = 0,
) -> SyncRunList:
    """The provider sync runs, latest first: when, outcome, counts and the first skipped elements."""
    runs = await plans_service.list_syncs(conn, limit=limit, offset=offset)
    return SyncRunList(runs=[SyncRunOut.model_validate(run, from_attributes=True) for run in runs])


router.include_router(v1_router)
