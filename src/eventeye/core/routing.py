"""Mounting routers flat and finding a request's route without trying every route in turn.

A Starlette router tries its routes in order, one regular expression each,
and FastAPI tries an included router's routes through one more layer (twice
for the one that matches). With the core's and every module's routes mounted,
that took over 100 µs of CPU before a module's endpoint at the end of the
table ran (`docs/benchmarks.md`, ``/search``). So routers are mounted flat, and
requests for fixed paths (``/search``, ``/secapp/update``, ``/v1/events``) go
straight to their routes through a dictionary.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

_PARAMETER = re.compile(r"{[^}]*}")


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
        self._built_for: tuple[int, int] | None = None
        self._index: dict[str, tuple[BaseRoute, ...]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            for route in self._lookup().get(scope["path"], ()):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self._router)
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self._fallback(scope, receive, send)

    def _lookup(self) -> dict[str, tuple[BaseRoute, ...]]:
        routes = self._router.routes
        if self._built_for != (id(routes), len(routes)):
            self._index = static_path_index(routes)
            self._built_for = (id(routes), len(routes))
        return self._index


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
