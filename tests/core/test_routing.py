"""Flat mounting and the fixed-path index pick the route the router's ordered scan would pick."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from eventeye.core.routing import include_flat, install_static_path_index, static_path_index


def build_app(*routers: APIRouter) -> FastAPI:
    app = FastAPI()
    for router in routers:
        include_flat(app, router)
    install_static_path_index(app)
    return app


ClientFor = Callable[[FastAPI], httpx.AsyncClient]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFor]:
    clients: list[httpx.AsyncClient] = []

    def make(app: FastAPI) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def shadowing_router() -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/items/mine")
    async def mine() -> str:
        return "mine"

    @router.api_route("/items/{item}", methods=["GET", "POST"])
    async def item(item: str) -> str:
        return f"item {item}"

    @router.post("/items/mine")
    async def post_mine() -> str:  # never reached: the parameter route above takes POST /v1/items/mine
        return "post mine"

    @router.get("/items/theirs/{x}")
    async def theirs(x: str) -> str:
        return f"theirs {x}"

    @router.get("/other")
    async def other() -> str:
        return "other"

    return router


class TestStaticPathIndex:
    async def test_fixed_paths_reach_their_routes(self, client_for: ClientFor) -> None:
        client = client_for(build_app(shadowing_router()))
        assert (await client.get("/v1/other")).json() == "other"
        assert (await client.get("/v1/items/mine")).json() == "mine"
        assert (await client.get("/v1/items/theirs/7")).json() == "theirs 7"

    async def test_an_earlier_parameter_route_keeps_the_path(self, client_for: ClientFor) -> None:
        routes = build_app(shadowing_router()).router.routes
        assert "/v1/items/mine" not in static_path_index(routes)
        assert "/v1/other" in static_path_index(routes)
        client = client_for(build_app(shadowing_router()))
        assert (await client.post("/v1/items/mine")).json() == "item mine"

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/v1/other"),
            ("DELETE", "/v1/other"),
            ("HEAD", "/v1/other"),
            ("GET", "/v1/other/"),
            ("GET", "/v1/items/mine"),
            ("POST", "/v1/items/mine"),
            ("PUT", "/v1/items/mine"),
            ("GET", "/v1/items/theirs/1"),
            ("GET", "/v1/nothing"),
        ],
    )
    async def test_every_request_is_answered_as_by_fastapis_own_mounting(
        self, client_for: ClientFor, method: str, path: str
    ) -> None:
        reference = FastAPI()
        reference.include_router(shadowing_router())
        indexed = client_for(build_app(shadowing_router()))
        expected = await client_for(reference).request(method, path)
        answer = await indexed.request(method, path)
        assert (answer.status_code, answer.headers.get("allow"), answer.content) == (
            expected.status_code,
            expected.headers.get("allow"),
            expected.content,
        )

    async def test_routes_added_later_are_found(self, client_for: ClientFor) -> None:
        app = build_app(shadowing_router())
        client = client_for(app)
        assert (await client.get("/late")).status_code == 404

        @app.get("/late")
        async def late() -> str:
            return "late"

        assert (await client.get("/late")).json() == "late"


class TestIncludeFlat:
    def test_nested_routers_are_mounted_flat_with_their_paths(self) -> None:
        inner = APIRouter(prefix="/v1/inner", tags=["inner"])

        @inner.get("/x")
        async def x() -> str:
            return "x"

        outer = APIRouter()
        outer.include_router(inner)
        app = build_app(outer)
        assert [getattr(route, "path", None) for route in app.router.routes][-1] == "/v1/inner/x"
        assert app.openapi()["paths"]["/v1/inner/x"]["get"]["tags"] == ["inner"]

    def test_a_prefix_given_when_including_is_refused(self) -> None:
        inner = APIRouter()

        @inner.get("/x")
        async def x() -> str:
            return "x"

        outer = APIRouter()
        outer.include_router(inner, prefix="/v2")
        if not hasattr(outer.routes[0], "original_router"):
            pytest.skip("this FastAPI copies included routes with their prefix applied")
        with pytest.raises(ValueError, match="prefix"):
            build_app(outer)
