"""Flat mounting and the fixed-path index pick the route the router's ordered scan would pick."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from eventeye.core.routing import (
    DirectDispatch,
    DirectRoute,
    include_flat,
    install_direct_dispatch,
    install_static_path_index,
    static_path_index,
)


def build_app(*routers: APIRouter) -> FastAPI:
    app = FastAPI()
    for router in routers:
        include_flat(app, router)
    install_static_path_index(app)
    return app


ClientFor = Callable[[ASGIApp], httpx.AsyncClient]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFor]:
    clients: list[httpx.AsyncClient] = []

    def make(app: ASGIApp) -> httpx.AsyncClient:
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


async def echo(who: Caller, request: Request) -> Response:
    return Response(f"{who}: {(await request.body()).decode()}", status_code=202)


class Teapot(Exception):
    """Answered by a handler of the application's (async)."""


class Kettle(Teapot):
    """Answered by a handler of its own (sync), not its parent's."""


async def raising(request: Request) -> Response:
    kind = request.headers.get("x-raise", "")
    errors: dict[str, Exception] = {
        "teapot": Teapot("short and stout"),
        "kettle": Kettle("whistles"),
        "http-418": HTTPException(418, "by status"),
        "http-409": HTTPException(409, "by class"),
        "unhandled": RuntimeError("nobody takes this"),
    }
    raise errors[kind]


def dispatch_router() -> APIRouter:
    router = APIRouter()

    @router.post("/taken/{x}")  # declared first: the router gives it POST /taken/direct
    async def taken(x: str) -> str:
        return f"taken {x}"

    router.add_api_route("/taken/direct", echo, methods=["POST"], route_class_override=DirectRoute)

    @router.post("/twice")  # declared first: the router gives it POST /twice
    async def twice() -> str:
        return "plain twice"

    router.add_api_route("/twice", echo, methods=["POST"], route_class_override=DirectRoute)
    router.add_api_route("/echo", echo, methods=["POST"], status_code=202, route_class_override=DirectRoute)

    @router.get("/echo")
    async def plain_echo() -> str:
        return "plain"

    router.add_api_route("/raising", raising, methods=["GET"], route_class_override=DirectRoute)
    return router


def dispatch_app(*, dispatch: bool) -> FastAPI:
    app = FastAPI()
    if dispatch:
        install_direct_dispatch(app)

    @app.exception_handler(Teapot)
    async def on_teapot(_: Request, exc: Exception) -> Response:
        return Response(f"teapot: {exc}", status_code=418)

    @app.exception_handler(Kettle)
    def on_kettle(_: Request, exc: Exception) -> Response:
        return Response(f"kettle: {exc}", status_code=418)

    @app.exception_handler(418)
    async def on_418(_: Request, exc: Exception) -> Response:
        return Response("status handler", status_code=418)

    include_flat(app, dispatch_router())
    install_static_path_index(app)
    return app


class Below:
    """The rest of the stack under a ``DirectDispatch``: records what reaches it and answers 299."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(f"{scope['method']} {scope['path']}")
        await Response("below", status_code=299)(scope, receive, send)


class TestDirectDispatch:
    async def test_direct_routes_are_answered_without_the_layers_below(self, client_for: ClientFor) -> None:
        below = Below()
        app = dispatch_app(dispatch=False)
        client = client_for(DirectDispatch(below, application=app))
        answered = await client.post("/echo", content=b"hello", headers={"x-caller": "app"})
        assert (answered.status_code, answered.text) == (202, "app: hello")
        assert below.paths == []
        passed = ["GET /echo", "POST /taken/direct", "POST /twice", "POST /echo/", "PUT /echo"]
        for request in passed:
            method, path = request.split()
            assert (await client.request(method, path)).status_code == 299
        assert below.paths == passed

    @pytest.mark.parametrize(
        ("method", "path", "headers"),
        [
            ("POST", "/echo", {"x-caller": "app"}),
            ("POST", "/echo", {}),
            ("GET", "/echo", {}),
            ("HEAD", "/echo", {}),
            ("PUT", "/echo", {}),
            ("POST", "/taken/direct", {"x-caller": "app"}),
            ("POST", "/twice", {"x-caller": "app"}),
            ("GET", "/raising", {"x-raise": "teapot"}),
            ("GET", "/raising", {"x-raise": "kettle"}),
            ("GET", "/raising", {"x-raise": "http-418"}),
            ("GET", "/raising", {"x-raise": "http-409"}),
        ],
    )
    async def test_every_request_is_answered_as_without_it(
        self, client_for: ClientFor, method: str, path: str, headers: dict[str, str]
    ) -> None:
        answers = []
        for dispatch in (False, True):
            answer = await client_for(dispatch_app(dispatch=dispatch)).request(
                method, path, content=b"body", headers=headers
            )
            answers.append((answer.status_code, answer.headers.get("allow"), answer.content))
        assert answers[1] == answers[0]

    async def test_an_error_no_handler_takes_goes_up(self, client_for: ClientFor) -> None:
        with pytest.raises(RuntimeError, match="nobody takes this"):
            await client_for(dispatch_app(dispatch=True)).get("/raising", headers={"x-raise": "unhandled"})

    async def test_the_middleware_above_sees_the_route(self, client_for: ClientFor) -> None:
        app = dispatch_app(dispatch=True)
        seen: list[str] = []

        @app.middleware("http")
        async def record(request: Request, call_next: Callable[..., Any]) -> Response:
            response: Response = await call_next(request)
            seen.append(request.scope["route"].path)
            return response

        assert (await client_for(app).post("/echo", headers={"x-caller": "app"})).status_code == 202
        assert seen == ["/echo"]

    async def test_routes_added_later_are_found(self, client_for: ClientFor) -> None:
        below = Below()
        app = dispatch_app(dispatch=False)
        client = client_for(DirectDispatch(below, application=app))
        assert (await client.post("/late", headers={"x-caller": "app"})).status_code == 299
        app.router.add_api_route("/late", echo, methods=["POST"], route_class_override=DirectRoute)
        answered = await client.post("/late", content=b"hi", headers={"x-caller": "app"})
        assert (answered.status_code, answered.text, below.paths) == (202, "app: hi", ["POST /late"])

    def test_it_must_be_the_innermost_middleware(self) -> None:
        app = FastAPI()

        @app.middleware("http")
        async def other(request: Request, call_next: Callable[..., Any]) -> Response:
            response: Response = await call_next(request)
            return response

        with pytest.raises(RuntimeError, match="innermost"):
            install_direct_dispatch(app)
