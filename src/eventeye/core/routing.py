"""Mounting routers flat and finding a request's route without trying every route in turn.

A Starlette router tries its routes in order, one regular expression each,
and FastAPI tries an included router's routes through one more layer (twice
for the one that matches). With the core's and every module's routes mounted,
that took over 100 µs of CPU before a module's endpoint at the end of the
table ran (`docs/benchmarks.md`, ``/search``). So routers are mounted flat, and
requests for fixed paths (``/search``, ``/secapp/update``, ``/v1/events``) go
straight to their routes through a dictionary.

The busiest routes are also called without FastAPI's per-request dependency
solving (:class:`DirectRoute`), which cost them more than their own work, and
straight from the middleware stack (:class:`DirectDispatch`), past the
framework's per-request layers between the middleware and the endpoint.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar, cast

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

_PARAMETER = re.compile(r"{[^}]*}")
T = TypeVar("T")


def include_flat(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes (and those of routers it includes) to ``app`` itself.

    A route keeps what its router declared (path prefix, tags, dependencies);
    only including with extra arguments (a prefix or dependencies at
    ``include_router`` time) is not supported, and is refused.
    """
    app.router.routes.extend(_flat_routes(router))


def _flat_routes(router: APIRouter) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for route in router.routes:
        included = getattr(route, "original_router", None)
        if included is None:
            routes.append(route)
            continue
        context = getattr(route, "include_context", None)
        if context is not None and (context.prefix or context.dependencies):
            raise ValueError(f"{included!r} is included with a prefix or dependencies: declare them on the router")
        routes.extend(_flat_routes(included))
    return routes


class StaticPathIndex:
    """The router's own dispatch, with a dictionary in front for routes whose path has no parameters.

    A path goes through the dictionary only when no earlier route could match
    it, so every request reaches the route the router's ordered scan would
    have picked; everything else (parameters, 404, 405, other route types)
    falls through to that scan. The index follows changes to the route list.
    """

    def __init__(self, router: APIRouter, fallback: ASGIApp) -> None:
        self._router = router
        self._fallback = fallback
        self._index = RouteTableIndex(router, static_path_index)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            for route in self._index.get().get(scope["path"], ()):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self._router)
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self._fallback(scope, receive, send)


class RouteTableIndex(Generic[T]):
    """What ``build`` makes of a router's route list, made again when the list is replaced or grows."""

    def __init__(self, router: APIRouter, build: Callable[[list[BaseRoute]], T]) -> None:
        self._router = router
        self._build = build
        self._built: tuple[tuple[int, int], T] | None = None

    def get(self) -> T:
        routes = self._router.routes
        version = (id(routes), len(routes))
        if self._built is None or self._built[0] != version:
            self._built = (version, self._build(routes))
        return self._built[1]


def static_path_index(routes: list[BaseRoute]) -> dict[str, tuple[BaseRoute, ...]]:
    """Fixed path -> its routes in table order, for the paths no other earlier route could take."""
    index: dict[str, list[BaseRoute]] = {}
    shadowed: set[str] = set()
    earlier: list[tuple[str, Any]] = []  # (path, compiled pattern) of the routes seen so far
    for route in routes:
        pattern = getattr(route, "path_regex", None)
        if pattern is None:  # a kind of route not matched by its path: leave the rest to the scan
            break
        path = getattr(route, "path", "")
        if isinstance(route, Route) and not _PARAMETER.search(path) and path not in shadowed:
            if any(other != path and other_pattern.match(path) for other, other_pattern in earlier):
                shadowed.add(path)
                index.pop(path, None)
            else:
                index.setdefault(path, []).append(route)
        earlier.append((path, pattern))
    return {path: tuple(found) for path, found in index.items()}


def install_static_path_index(app: FastAPI) -> StaticPathIndex:
    """Put a :class:`StaticPathIndex` in front of ``app``'s router."""
    index = StaticPathIndex(app.router, app.router.middleware_stack)
    app.router.middleware_stack = index
    return index


class DirectRoute(APIRoute):
    """An ``APIRoute`` whose endpoint is called with its dependencies' results directly.

    For routes whose endpoint takes only the request and dependencies that
    take only the request (no parameters, body or sub-dependencies for FastAPI
    to validate) and returns a ``Response``. Such a route is declared,
    documented and matched as any other; per request it skips FastAPI's
    dependency solving, which cost the busiest routes more than their own work
    (``docs/benchmarks.md``). A route that does not have that shape is refused
    when it is declared, and ``app.dependency_overrides`` does not reach it.
    Use it for a router (``APIRouter(route_class=DirectRoute)``) or a route
    (``add_api_route(..., route_class_override=DirectRoute)``).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = _direct_call(self.dependant, self.path, with_dependencies=True)
        dependencies = [
            (_parameter(sub, self.path), _direct_call(sub, self.path)) for sub in self.dependant.dependencies
        ]
        request_name = self.dependant.request_param_name

        async def handler(request: Request) -> Response:
            values = {name: await call(request) for name, call in dependencies}
            if request_name:
                values[request_name] = request
            response = await endpoint(**values)
            if not isinstance(response, Response):
                raise TypeError(f"{self.path}: a DirectRoute endpoint must return a Response")
            return response

        self.direct_handler = handler
        return handler


def _direct_call(
    dependant: Dependant, path: str, *, with_dependencies: bool = False
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """``dependant``'s coroutine function, once it is checked to need nothing solved but the request."""
    own = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
    )
    others = (
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
    )
    call = dependant.call
    nested = dependant.dependencies and not with_dependencies
    if any(own) or any(others) or nested or not inspect.iscoroutinefunction(call):
        raise TypeError(f"{path}: {call!r} takes more than the request, or is not a coroutine function")
    assert call is not None
    return call


def _parameter(dependant: Dependant, path: str) -> str:
    if dependant.name is None:  # a route- or router-level dependency: its result has nowhere to go
        raise TypeError(f"{path}: a DirectRoute takes its dependencies as parameters only")
    return dependant.name


ExceptionHandler = Callable[[Request, Exception], Response | Awaitable[Response]]


class DirectDispatch:
    """Middleware that calls :class:`DirectRoute` endpoints itself, past the layers below it.

    Between the last middleware and an endpoint, FastAPI and Starlette run
    their exception middleware, an exit stack, the router, the route and the
    request wrapper: for the busiest routes, as much CPU again as the
    endpoint's own work (``docs/benchmarks.md``). For a request whose path and
    method the router would give to a ``DirectRoute`` (same shadowing rules as
    :class:`StaticPathIndex`), this middleware calls the route's handler and
    answers what it raises with the application's exception handlers, as the
    exception middleware would; an error no handler takes goes up to the
    middleware above, as before. Every other request goes on down the stack.

    It must be the innermost middleware (added to the application first), so
    that every other middleware still sees these requests.
    """

    def __init__(self, app: ASGIApp, *, application: FastAPI) -> None:
        self.app = app
        self._application = application
        self._index = RouteTableIndex(application.router, direct_route_index)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self._index.get().get((scope["path"], scope["method"]))
            if route is not None:
                await self._call(route, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _call(self, route: DirectRoute, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("router", self._application.router)
        scope.update(route=route, endpoint=route.endpoint, path_params={})  # what matching the route sets
        request = Request(scope, receive, send)
        try:
            response = await route.direct_handler(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await _answer(handler, request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """The handler Starlette's exception middleware would pick (500 and ``Exception`` are not its own)."""
        handlers: dict[Any, ExceptionHandler] = self._application.exception_handlers
        if isinstance(exc, HTTPException) and exc.status_code != 500 and exc.status_code in handlers:
            return handlers[exc.status_code]
        for kind in type(exc).__mro__:
            if kind is not Exception and kind in handlers:
                return handlers[kind]
        return None


async def _answer(handler: ExceptionHandler, request: Request, exc: Exception) -> Response:
    if inspect.iscoroutinefunction(handler):
        return cast(Response, await handler(request, exc))
    return cast(Response, await run_in_threadpool(handler, request, exc))


def direct_route_index(routes: list[BaseRoute]) -> dict[tuple[str, str], DirectRoute]:
    """(fixed path, method) -> the ``DirectRoute`` the router's ordered scan would pick for it."""
    index: dict[tuple[str, str], DirectRoute] = {}
    for path, candidates in static_path_index(routes).items():
        for route in reversed(candidates):  # the first route declaring a method wins
            for method in getattr(route, "methods", None) or ():
                if isinstance(route, DirectRoute):
                    index[(path, method)] = route
                else:
                    index.pop((path, method), None)
    return index


def install_direct_dispatch(app: FastAPI) -> None:
    """Add :class:`DirectDispatch` to ``app``; call it before adding any other middleware."""
    if app.user_middleware:
        raise RuntimeError("DirectDispatch must be the innermost middleware: install it before any other")
    app.add_middleware(DirectDispatch, application=app)
