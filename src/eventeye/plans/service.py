"""Searching the catalogue (`/search`) and listing sync runs.

`/search` reads only the store, through a response cache checked against
the data version on every request (see ``eventeye.plans.cache``): on a
SQLite file, the version from its stamp (``eventeye.core.storage.stamp``),
kept by the sync; where there is none, from the database.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.datastructures import QueryParams

from eventeye.core.storage.engine import read_transaction
from eventeye.errors import BadRequest, field_detail
from eventeye.plans import repository as plans_repository
from eventeye.plans.cache import ResponseCache, VersionGate
from eventeye.plans.metrics import CACHE_HITS, CACHE_MISSES, VERSION_READS
from eventeye.plans.repository import SyncRun
from eventeye.plans.schemas import SearchQuery, parse_instant

SEARCH_PARAMETERS = ("starts_at", "ends_at")
RESPONSE_HEAD = b'{"data":{"events":['
RESPONSE_TAIL = b']},"error":null}'
MAX_REMEMBERED_QUERIES = 10_000


class InvalidSearch(BadRequest):
    code = "invalid_parameters"


def parse_search_query(params: QueryParams) -> SearchQuery:
    """Validate `/search`'s parameters; ``InvalidSearch`` names each bad one and why."""
    values: dict[str, Any] = {}
    details = []
    for name in SEARCH_PARAMETERS:
        given = params.getlist(name)
        if len(given) > 1:
            details.append(field_detail(name, "given more than once"))
        elif not given:
            values[name] = None
        elif not given[0]:
            details.append(field_detail(name, "empty; leave the parameter out for no bound"))
        else:
            try:
                values[name] = parse_instant(given[0])
            except ValueError as exc:
                details.append(field_detail(name, str(exc)))
    if not details and values["starts_at"] and values["ends_at"] and values["starts_at"] > values["ends_at"]:
        details.append(field_detail("starts_at", "after ends_at"))
    if details:
        raise InvalidSearch("; ".join(f"{d['field']}: {d['reason']}" for d in details), details=details)
    return SearchQuery(starts_at=values["starts_at"], ends_at=values["ends_at"])


def render_search(summaries: list[bytes]) -> bytes:
    """The `/search` response around plans already rendered to JSON (no per-plan serialisation)."""
    return RESPONSE_HEAD + b",".join(summaries) + RESPONSE_TAIL


def render_error(code: str, message: str, details: list[dict[str, Any]]) -> bytes:
    """The `/search` error envelope."""
    return orjson.dumps({"data": None, "error": {"code": code, "message": message, "details": details}})


class PlanSearch:
    """`/search` for one process: responses cached per query until a sync changes the catalogue."""

    def __init__(self, engine: AsyncEngine, *, cache_bytes: int) -> None:
        self.engine = engine
        self._stamp = plans_repository.version_stamp(engine)
        self._versions = plans_repository.DataVersionReader(engine)
        self.gate = VersionGate(self._read_version)
        self.cache = ResponseCache(cache_bytes)
        self._queries: dict[bytes, SearchQuery] = {}

    def query_of(self, query_string: bytes) -> SearchQuery:
        """Parse a raw query string (``InvalidSearch`` when bad), remembering valid ones: most repeat."""
        query = self._queries.get(query_string)
        if query is None:
            query = parse_search_query(QueryParams(query_string))
            if len(self._queries) >= MAX_REMEMBERED_QUERIES:
                self._queries.clear()
            self._queries[query_string] = query
        return query

    async def search(self, query: SearchQuery) -> bytes:
        """The rendered response for ``query``, never older than the last completed sync."""
        version = self._stamp.read() if self._stamp is not None else None
        if version is None:
            version = self._versions.read_now()  # SQLite: a read that never waits, no need to share it
        if version is None:
            version = await self.gate.current()
        else:
            VERSION_READS.inc()
        body = self.cache.get(query, version)
        if body is None:
            CACHE_MISSES.inc()
            return await self.cache.load(query, version, lambda: self._render(query))
        CACHE_HITS.inc()
        return body

    async def _read_version(self) -> int:
        VERSION_READS.inc()
        return await self._versions.read()

    async def close(self) -> None:
        """Give back the connection held for version reads."""
        await self._versions.close()

    async def _render(self, query: SearchQuery) -> tuple[bytes, int]:
        """The answer and the data version it was read at (one snapshot)."""
        async with read_transaction(self.engine) as conn:
            summaries = await plans_repository.search(conn, starts_at=query.starts_at, ends_at=query.ends_at)
            version = await plans_repository.get_data_version(conn)
        return render_search(summaries), version


async def list_syncs(conn: AsyncConnection, *, limit: int, offset: int) -> list[SyncRun]:
    """Sync runs, latest first."""
    return await plans_repository.list_sync_runs(conn, limit=limit, offset=offset)
