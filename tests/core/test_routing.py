"""Flat mounting and the fixed-path index pick the route the router's ordered scan would pick."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response

from eventeye.core.routing import DirectRoute, include_flat, install_static_path_index, static_path_index


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


async def caller(request: Request) -> str:
    """A dependency that reads the request itself, as the busiest routes' access checks do."""
    name = request.headers.get("x-caller")
    if not name:
        raise HTTPException(401, "who is calling?")
    return name


Caller = Annotated[str, Depends(caller)]


class TestDirectRoute:
    async def test_the_endpoint_gets_its_dependency_and_the_request(self, client_for: ClientFor) -> None:
        router = APIRouter(route_class=DirectRoute)

        @router.post("/echo", status_code=202)
        async def echo(who: Caller, request: Request) -> Response:
            return Response(f"{who}: {(await request.body()).decode()}", status_code=202)

        client = client_for(build_app(router))
        answered = await client.post("/echo", content=b"hello", headers={"x-caller": "app"})
        assert (answered.status_code, answered.text) == (202, "app: hello")

    async def test_what_a_dependency_raises_is_answered_as_usual(self, client_for: ClientFor) -> None:
        router = APIRouter(route_class=DirectRoute)
        reached: list[str] = []

        @router.get("/guarded")
        async def guarded(who: Caller) -> Response:
            reached.append(who)
            return Response(who)

        answered = await client_for(build_app(router)).get("/guarded")
        assert (answered.status_code, answered.json(), reached) == (401, {"detail": "who is calling?"}, [])

    def test_the_route_is_documented_like_any_other(self) -> None:
        router = APIRouter(route_class=DirectRoute)

        @router.get("/documented", tags=["t"], summary="A documented route")
        async def documented(who: Caller) -> Response:
            return Response(who)

        operation = build_app(router).openapi()["paths"]["/documented"]["get"]
        assert (operation["tags"], operation["summary"]) == (["t"], "A documented route")

    async def test_an_endpoint_that_does_not_return_a_response_fails_loudly(self, client_for: ClientFor) -> None:
        router = APIRouter(route_class=DirectRoute)

        @router.get("/model")
        async def model(who: Caller) -> dict[str, str]:
            return {"who": who}

        with pytest.raises(TypeError, match="must return a Response"):
            await client_for(build_app(router)).get("/model", headers={"x-caller": "app"})

    @pytest.mark.parametrize("shape", ["query parameter", "nested dependency", "sync endpoint", "router dependency"])
    def test_a_route_that_needs_solving_is_refused_when_declared(self, shape: str) -> None:
        async def nested(who: Caller) -> str:
            return who

        async def with_query(who: Caller, limit: int = 10) -> Response:
            return Response(who)

        async def with_nested(who: Annotated[str, Depends(nested)]) -> Response:
            return Response(who)

        def sync(who: Caller) -> Response:
            return Response(who)

        async def plain(request: Request) -> Response:
            return Response("plain")

        endpoints = {
            "query parameter": with_query,
            "nested dependency": with_nested,
            "sync endpoint": sync,
            "router dependency": plain,
        }
        guarded = [Depends(caller)] if shape == "router dependency" else []
        router = APIRouter(route_class=DirectRoute, dependencies=guarded)
        with pytest.raises(TypeError, match="/refused"):
            router.add_api_route("/refused", endpoints[shape])
