"""Service endpoints and HTTP plumbing: health, readiness, metrics, request ids, the error shape, body limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye import __version__
from eventeye.core.auth.dependencies import Public
from eventeye.core.storage.engine import create_engine, write_transaction
from eventeye.errors import envelope_route
from eventeye.modules import LoadedModule
from tests.core.conftest import RunApp
from tests.fixtures.server import free_port


def probe_module() -> LoadedModule:
    """A module with routes that fail on purpose, to see what clients and logs get."""
    router = APIRouter()

    @router.get("/probe/crash")
    async def crash(_: Public) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @router.post("/probe/echo")
    async def echo(request: Request, _: Public) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return LoadedModule(name="probe", router=router, register=lambda registry: None)


def counter_value(exposition: str, route: str, status: str, method: str = "GET") -> float:
    for family in text_string_to_metric_families(exposition):
        if family.name != "eventeye_http_requests":
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name.endswith("_total") and (labels["route"], labels["status"], labels["method"]) == (
                route,
                status,
                method,
            ):
                return sample.value
    return 0.0


class TestHealthz:
    async def test_answers_ok_with_the_version(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "version": __version__}


class TestReadyz:
    async def test_ready_when_the_database_answers_and_is_current(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}

    async def test_not_ready_when_the_database_is_unreachable(self, run_app: RunApp) -> None:
        async with run_app() as running:
            # The database goes away under a running process: point it at a port nobody listens on.
            unreachable = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone")
            healthy = running.runtime.engine
            running.runtime.engine = unreachable
            try:
                response = await running.client.get("/readyz")
            finally:
                running.runtime.engine = healthy
                await unreachable.dispose()
            assert response.status_code == 503
            assert response.json() == {"status": "not ready", "checks": {"database": "unreachable"}}
            assert (await running.client.get("/healthz")).status_code == 200

    async def test_not_ready_when_migrations_are_pending(self, client: httpx.AsyncClient, engine: AsyncEngine) -> None:
        async with write_transaction(engine) as conn:
            versions = [row[0] for row in await conn.execute(text("SELECT version_num FROM alembic_version"))]
            await conn.execute(text("DELETE FROM alembic_version"))
        try:
            response = await client.get("/readyz")
        finally:
            async with write_transaction(engine) as conn:
                for version in versions:
                    await conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
        assert response.status_code == 503
        assert response.json()["checks"]["migrations"].startswith("pending: ")
        assert (await client.get("/readyz")).status_code == 200


class TestMetrics:
    async def test_counts_requests_by_route_template_and_status(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        before = (await client.get("/metrics")).text
        await client.delete("/v1/apps/one", headers=admin_headers)
        await client.delete("/v1/apps/two", headers=admin_headers)
        await client.get("/no/such/path")
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        after = response.text
        template = "/v1/apps/{name}"
        assert counter_value(after, template, "404", "DELETE") - counter_value(before, template, "404", "DELETE") == 2
        assert counter_value(after, "unmatched", "404") - counter_value(before, "unmatched", "404") == 1
        assert "/v1/apps/one" not in after

    async def test_exposes_latency_and_process_metrics(self, client: httpx.AsyncClient) -> None:
        await client.get("/healthz")
        names = {family.name for family in text_string_to_metric_families((await client.get("/metrics")).text)}
        assert {"eventeye_http_request_duration_seconds", "process_cpu_seconds"} <= names


class TestRequestId:
    async def test_given_id_is_echoed(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": "trace-42.a_b:c"})
        assert response.headers["X-Request-ID"] == "trace-42.a_b:c"

    async def test_missing_id_is_generated_per_request(self, client: httpx.AsyncClient) -> None:
        first = (await client.get("/healthz")).headers["X-Request-ID"]
        second = (await client.get("/healthz")).headers["X-Request-ID"]
        assert len(first) == 32
        assert first != second

    @pytest.mark.parametrize("given", ["x" * 200, "bad id with spaces", 'quote"d', "é"])
    async def test_unsafe_id_is_replaced(self, client: httpx.AsyncClient, given: str) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": given.encode()})
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] != given
        assert len(response.headers["X-Request-ID"]) == 32

    async def test_error_responses_carry_it_too(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/nothing", headers={"X-Request-ID": "abc"})
        assert response.headers["X-Request-ID"] == "abc"


class TestErrorShape:
    async def test_unknown_path_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/nothing")
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "Not Found", "details": []}}

    async def test_wrong_method_is_405_with_allow(self, client: httpx.AsyncClient) -> None:
        response = await client.put("/healthz")
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert "GET" in response.headers["Allow"]

    async def test_invalid_body_is_422_naming_each_field(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post("/v1/apps", json={"scopes": "admin"}, headers=admin_headers)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert sorted(detail["field"] for detail in error["details"]) == ["name", "scopes"]
        assert all(detail["reason"] for detail in error["details"])

    async def test_malformed_json_is_400_naming_the_body(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        headers = {**admin_headers, "Content-Type": "application/json"}
        response = await client.post("/v1/apps", content=b'{"name": ', headers=headers)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "bad_request"
        assert [detail["field"] for detail in error["details"]] == ["body"]

    async def test_unhandled_error_is_500_without_internals(self, run_app: RunApp) -> None:
        async with run_app(modules=[probe_module()]) as running:
            response = await running.client.get("/probe/crash", headers={"X-Request-ID": "crash-1"})
        assert response.status_code == 500
        assert response.json() == {
            "error": {"code": "internal", "message": "Internal server error", "details": [{"request_id": "crash-1"}]}
        }
        assert response.headers["X-Request-ID"] == "crash-1"
        assert "hunter2" not in response.text
        assert "Traceback" not in response.text

    async def test_unhandled_error_is_counted_as_500(self, run_app: RunApp) -> None:
        async with run_app(modules=[probe_module()]) as running:
            before = (await running.client.get("/metrics")).text
            await running.client.get("/probe/crash")
            after = (await running.client.get("/metrics")).text
        assert counter_value(after, "/probe/crash", "500") - counter_value(before, "/probe/crash", "500") == 1


class TestBodyLimit:
    async def test_declared_oversized_body_is_413(self, run_app: RunApp) -> None:
        async with run_app(modules=[probe_module()], max_request_bytes=1024) as running:
            response = await running.client.post("/probe/echo", content=b"x" * 1025)
            assert response.status_code == 413
            assert response.json()["error"]["code"] == "payload_too_large"
            assert (await running.client.post("/probe/echo", content=b"x" * 1024)).json() == {"bytes": 1024}

    @pytest.mark.parametrize("path", ["/probe/echo", "/users", "/login"])
    async def test_streamed_oversized_body_is_413(self, run_app: RunApp, path: str) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"x" * 512

        async with run_app(modules=[probe_module()], max_request_bytes=1024) as running:
            headers = {"Content-Type": "application/x-www-form-urlencoded" if path == "/login" else "application/json"}
            response = await running.client.post(path, content=chunks(), headers=headers)
            assert "content-length" not in {k.lower() for k in response.request.headers}
            assert response.status_code == 413, response.text
            assert response.json()["error"]["details"] == [{"field": "body", "reason": "larger than 1024 bytes"}]

    async def test_streamed_body_within_the_limit_is_read(self, run_app: RunApp) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b"x" * 256

        async with run_app(modules=[probe_module()], max_request_bytes=1024) as running:
            response = await running.client.post("/probe/echo", content=chunks())
            assert response.json() == {"bytes": 1024}


class TestDocs:
    async def test_openapi_and_swagger_are_served(self, client: httpx.AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()
        assert {"/users", "/login", "/v1/apps", "/healthz"} <= set(schema["paths"])
        assert "swagger" in (await client.get("/docs")).text.lower()


def envelope_module() -> LoadedModule:
    """A router with its own error envelope, as a module with a fixed public contract has."""

    def render(status: int, code: str, message: str, details: list[dict[str, Any]]) -> Response:
        return JSONResponse({"data": None, "error": {"code": code, "message": message}}, status_code=status)

    router = APIRouter(route_class=envelope_route(render))

    @router.post("/contract/items")
    async def create_item(item: dict[str, int], _: Public) -> dict[str, Any]:
        return {"data": item, "error": None}

    @router.post("/contract/form")
    async def submit_form(name: Annotated[str, Form()], _: Public) -> dict[str, Any]:
        return {"data": name, "error": None}

    @router.get("/contract/crash")
    async def crash(_: Public) -> None:
        raise RuntimeError("secret internals")

    return LoadedModule(name="contract", router=router, register=lambda registry: None)


class TestEnvelopeRoute:
    async def test_invalid_input_uses_the_envelope(self, run_app: RunApp) -> None:
        async with run_app(modules=[envelope_module()]) as running:
            response = await running.client.post("/contract/items", json={"a": "not a number"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_parameters"
        assert "a:" in response.json()["error"]["message"]

    async def test_malformed_json_uses_the_envelope(self, run_app: RunApp) -> None:
        async with run_app(modules=[envelope_module()]) as running:
            response = await running.client.post(
                "/contract/items", content=b"{nope", headers={"Content-Type": "application/json"}
            )
        assert response.status_code == 400
        assert response.json()["data"] is None

    async def test_unparseable_form_is_400_not_500(self, run_app: RunApp) -> None:
        async with run_app(modules=[envelope_module()]) as running:
            response = await running.client.post(
                "/contract/form", content=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=x"}
            )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "bad_request"

    async def test_unhandled_error_is_500_in_the_envelope(self, run_app: RunApp) -> None:
        async with run_app(modules=[envelope_module()]) as running:
            response = await running.client.get("/contract/crash")
        assert response.status_code == 500
        assert response.json() == {"data": None, "error": {"code": "internal", "message": "Internal server error"}}
