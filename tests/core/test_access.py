"""Every route declares its access, and no route that is not public answers an anonymous caller."""

from __future__ import annotations

import asyncio
import datetime as dt
import typing
import uuid
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.app import create_app
from eventeye.core.auth.dependencies import MountedRoute, Public, declared_access, mounted_routes, public
from eventeye.modules import LoadedModule, all_modules

OPEN_ACCESS = {"public", "signup"}
"""Declarations that admit anonymous callers on purpose (``signup``: the first user; see test_users)."""

ANONYMOUS_ANSWERS = {400, 401, 403}
BODIES: list[tuple[str, bytes, dict[str, str]]] = [
    ("no body", b"", {}),
    ("empty JSON", b"{}", {"Content-Type": "application/json"}),
    ("garbage JSON", b'{"\x00garbage', {"Content-Type": "application/json"}),
    ("garbage form", b"\xff=\xfe&&=", {"Content-Type": "application/x-www-form-urlencoded"}),
]


def dummy_value(annotation: Any) -> str:
    """A plausible value for a path parameter, so that the request gets past path validation."""
    if annotation is None:
        return "x"
    for candidate in typing.get_args(annotation) or (annotation,):
        if candidate is uuid.UUID:
            return str(uuid.uuid4())
        if candidate is int:
            return "1"
        if candidate is float:
            return "1.5"
        if candidate in (dt.datetime, dt.date):
            return "2024-01-01"
    return "x"


def concrete_path(route: MountedRoute) -> str:
    values = {param.name: dummy_value(param.field_info.annotation) for param in route.dependant.path_params}
    return route.path_format.format(**values)


def guarded_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, concrete path, access) of every route that does not admit anonymous callers."""
    routes = []
    for route in mounted_routes(app):
        access = declared_access(route)
        if access in OPEN_ACCESS:
            continue
        for method in sorted(route.methods):
            routes.append((method, concrete_path(route), str(access)))
    return routes


class TestAnonymousCallers:
    async def test_every_guarded_route_refuses_them(self, app: FastAPI, admin_headers: dict[str, str]) -> None:
        # ``app`` has every shipped module on; admin_headers: a user exists, so nothing is open for bootstrapping.
        routes = guarded_routes(app)
        assert ("GET", "/v1/apps", "admin") in routes
        failures = []
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
            for method, path, access in routes:
                for label, body, headers in BODIES:
                    status = await answer(anonymous, method, path, body, headers)
                    if status not in ANONYMOUS_ANSWERS:
                        failures.append(f"{method} {path} ({access}) with {label}: {status}")
        assert failures == []

    async def test_walker_sees_every_shipped_module(self, app: FastAPI) -> None:
        walked = {(route.path, route.methods) for route in mounted_routes(app)}
        for module in all_modules():
            module_routes = {(route.path, route.methods) for route in mounted_routes(module.router)}
            assert module_routes, f"{module.name} has no routes"
            assert module_routes <= walked, module.name


async def answer(client: httpx.AsyncClient, method: str, path: str, body: bytes, headers: dict[str, str]) -> int | str:
    """The status of one anonymous request; a route that streams or hangs counts as answering."""
    try:
        async with asyncio.timeout(10):
            response = await client.request(method, path, content=body, headers=headers)
    except TimeoutError:
        return "no answer within 10s (streaming to an anonymous caller?)"
    return response.status_code


class TestAccessDeclaration:
    def test_app_refuses_a_route_without_one(self, make_settings: Any, engine: AsyncEngine) -> None:
        router = APIRouter()

        @router.get("/v1/undeclared")
        async def undeclared() -> dict[str, str]:
            return {}

        module = LoadedModule(name="careless", router=router, register=lambda registry: None)
        with pytest.raises(RuntimeError, match=r"routes without an access declaration: \['GET'\] /v1/undeclared"):
            create_app(make_settings(), engine=engine, modules=[module])

    def test_app_accepts_a_declared_route(self, make_settings: Any, engine: AsyncEngine) -> None:
        router = APIRouter()

        @router.get("/v1/declared")
        async def declared(_: Public) -> dict[str, str]:
            return {}

        module = LoadedModule(name="careful", router=router, register=lambda registry: None)
        app = create_app(make_settings(), engine=engine, modules=[module])
        assert "/v1/declared" in {route.path for route in mounted_routes(app)}

    def test_declaration_on_the_included_router_counts(self, make_settings: Any, engine: AsyncEngine) -> None:
        router = APIRouter(prefix="/v1/guarded", dependencies=[Depends(public)])

        @router.get("/{item}")
        async def item(item: int) -> dict[str, int]:
            return {"item": item}

        module = LoadedModule(name="careful", router=router, register=lambda registry: None)
        app = create_app(make_settings(), engine=engine, modules=[module])
        (mounted,) = [route for route in mounted_routes(app) if route.path.startswith("/v1/guarded")]
        assert (mounted.path, declared_access(mounted)) == ("/v1/guarded/{item}", "public")

    def test_every_route_of_the_full_app_declares_one(self, app: FastAPI) -> None:
        routes = mounted_routes(app)
        assert {"/healthz", "/users", "/login", "/v1/apps", "/v1/apps/{name}"} <= {route.path for route in routes}
        assert [route.path for route in routes if declared_access(route) is None] == []
