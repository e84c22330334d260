"""Traces reach a real OTLP/HTTP receiver when an endpoint is configured."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventeye.app import create_app
from eventeye.config import Settings
from tests.fixtures.server import free_port
from tests.fixtures.waiting import eventually
from tests.lifespan import running


class Collector:
    """An OTLP/HTTP trace receiver on a real port, keeping the span names it gets."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str]] = []

    async def receive(self, request: Request) -> Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        for resource in export.resource_spans:
            service = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
            self.spans += [(service, span.name) for scope in resource.scope_spans for span in scope.spans]
        return Response(status_code=200)


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    sink = Collector()
    port = free_port()
    app = Starlette(routes=[Route("/v1/traces", sink.receive, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield sink, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


async def test_requests_and_sql_are_traced(
    collector: tuple[Collector, str], make_settings: Callable[..., Settings], engine: AsyncEngine
) -> None:
    sink, endpoint = collector
    app = create_app(make_settings(otel_endpoint=endpoint, otel_service_name="eventeye-test"), engine=engine)
    async with running(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/healthz")).status_code == 200
            created = await client.post("/users", json={"username": "traced", "password": "password-123"})
            assert created.status_code == 201

        async def names() -> list[tuple[str, str]]:
            return list(sink.spans)

        spans = await eventually(names, lambda s: any(name == "POST /users" for _, name in s), timeout=15)
    assert {service for service, _ in spans} == {"eventeye-test"}
    assert any(name.startswith(("INSERT", "SELECT")) for _, name in spans), spans
    assert not any("healthz" in name for _, name in spans)


@pytest.mark.parametrize(("endpoint", "instrumented"), [(None, False), ("http://127.0.0.1:9", True)])
def test_only_an_endpoint_turns_tracing_on(
    make_settings: Callable[..., Settings], endpoint: str | None, instrumented: bool
) -> None:
    app = create_app(make_settings(otel_endpoint=endpoint))
    assert bool(getattr(app, "_is_instrumented_by_opentelemetry", False)) is instrumented
