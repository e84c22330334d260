"""Request dependencies: the runtime, a transaction, and one dependency per access level.

Every route declares exactly what it needs through one of the aliases below
(``Public``, ``Authenticated``, ``ReadAccess``, ``IngestAccess``,
``AdminAccess``, ``UserAccess``, ``SignupCaller``, and ``IngestCaller``, the
one-dependency form of ``IngestAccess`` for the busiest route); ``create_app``
refuses to start with a route that declares none.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import fastapi.routing
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.auth import repository as auth_repository
from eventeye.core.auth import service as auth_service
from eventeye.core.auth.apikeys import KEY_PREFIX
from eventeye.core.auth.models import Principal, Scope
from eventeye.core.runtime import Runtime
from eventeye.core.storage.engine import read_transaction, write_transaction
from eventeye.errors import Forbidden, Unauthorized

ACCESS_ATTRIBUTE = "eventeye_access"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/login", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs plain-def dependencies in its thread pool, on every request.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def write_conn(runtime: RuntimeDep) -> AsyncIterator[AsyncConnection]:
    """One writing transaction per request, committed before the response is sent."""
    async with write_transaction(runtime.engine) as conn:
        yield conn


async def read_conn(runtime: RuntimeDep) -> AsyncIterator[AsyncConnection]:
    """One read-only transaction per request."""
    async with read_transaction(runtime.engine) as conn:
        yield conn


DbConn = Annotated[AsyncConnection, Depends(write_conn, scope="function")]
ReadConn = Annotated[AsyncConnection, Depends(read_conn, scope="function")]


async def principal_from_credential(runtime: Runtime, credential: str) -> Principal:
    """Resolve an API key or a JWT to its principal, or raise ``Unauthorized``."""
    if credential.startswith(KEY_PREFIX):
        app = await runtime.api_keys.resolve(credential)
        if app is None:
            raise Unauthorized("Invalid or revoked API key")
        return auth_service.app_principal(app)
    claims = runtime.tokens.verify(credential)
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("Invalid token") from exc
    async with runtime.engine.connect() as conn:
        user = await auth_repository.get_user(conn, user_id=user_id)
    if user is None:
        raise Unauthorized("Invalid token")
    return auth_service.user_principal(user)


async def optional_principal(
    runtime: RuntimeDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal | None:
    credential = api_key or token
    if not credential:
        return None
    return await principal_from_credential(runtime, credential)


def declare_access(access: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a dependency as an access declaration (for routes with their own credential scheme)."""

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, ACCESS_ATTRIBUTE, access)
        return func

    return mark


@declare_access("public")
async def public() -> None:
    """Anyone may call this route."""


@declare_access("signup")
async def signup_caller(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal | None:
    """Anonymous allowed here; the endpoint decides (first user, open signup, admin)."""
    return principal


@declare_access("authenticated")
async def authenticated(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise Unauthorized()
    return principal


def _holding(principal: Principal, scope: Scope) -> Principal:
    """``principal`` when it holds ``scope``; ``Forbidden`` otherwise."""
    if not principal.has(scope):
        raise Forbidden(f"the {scope.value!r} scope is required")
    return principal


def require_scope(scope: Scope) -> Callable[..., Any]:
    """A dependency admitting users and applications that hold ``scope``."""

    @declare_access(scope.value)
    async def dependency(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        return _holding(principal, scope)

    dependency.__name__ = f"require_{scope.value}"
    return dependency


@declare_access("user")
async def require_user(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """A signed-in user (JWT), not an application key."""
    if principal.kind != "user":
        raise Forbidden("a user token is required")
    return principal


@dataclass(frozen=True, slots=True)
class Caller:
    """An allowed caller and the process's runtime, from ``direct_scope``."""

    principal: Principal
    runtime: Runtime


CREDENTIAL_SECURITY: list[dict[str, list[str]]] = [{"OAuth2PasswordBearer": []}, {"APIKeyHeader": []}]
"""The OpenAPI security of a route using ``direct_scope`` (its schemes are not dependencies there)."""


def direct_scope(scope: Scope) -> Callable[..., Any]:
    """As ``require_scope``, in one dependency that reads the credential headers itself.

    For the busiest routes: FastAPI's solving of the usual chain (runtime,
    two security schemes, the principal, the scope) costs every request more
    than the checks. Give the route ``openapi_extra={"security": CREDENTIAL_SECURITY}``.
    """

    @declare_access(scope.value)
    async def dependency(request: Request) -> Caller:
        runtime: Runtime = request.app.state.runtime
        credential = request.headers.get("x-api-key") or _bearer(request.headers.get("authorization"))
        if not credential:
            raise Unauthorized()
        return Caller(_holding(await principal_from_credential(runtime, credential), scope), runtime)

    dependency.__name__ = f"direct_{scope.value}"
    return dependency


def _bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, as ``OAuth2PasswordBearer`` reads it."""
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


Public = Annotated[None, Depends(public)]
SignupCaller = Annotated[Principal | None, Depends(signup_caller)]
Authenticated = Annotated[Principal, Depends(authenticated)]
ReadAccess = Annotated[Principal, Depends(require_scope(Scope.READ))]
IngestAccess = Annotated[Principal, Depends(require_scope(Scope.INGEST))]
IngestCaller = Annotated[Caller, Depends(direct_scope(Scope.INGEST))]
AdminAccess = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]
CriticalityAccess = Annotated[Principal, Depends(require_scope(Scope.CRITICALITY))]
UserAccess = Annotated[Principal, Depends(require_user)]


def declared_access(route: APIRoute | MountedRoute) -> str | None:
    """The access level a route declares through its dependencies, if any."""

    def search(dependant: Dependant) -> str | None:
        for sub in dependant.dependencies:
            access = getattr(sub.call, ACCESS_ATTRIBUTE, None)
            if access is not None:
                return str(access)
            found = search(sub)
            if found:
                return found
        return None

    return search(route.dependant)


@dataclass(frozen=True, slots=True)
class MountedRoute:
    """An API route as the application serves it: full path, methods, and every dependency that applies."""

    path: str
    path_format: str
    methods: frozenset[str]
    dependant: Dependant
    route: APIRoute


def mounted_routes(app: FastAPI | APIRouter) -> list[MountedRoute]:
    """Every API route of ``app`` (or a router), including those of included routers."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:  # older FastAPI copies included routes into ``app.routes``
        contexts: Iterable[Any] = [route for route in app.routes if isinstance(route, APIRoute)]
    else:  # newer FastAPI keeps included routers apart; a context holds the route as mounted
        contexts = iterate(app.routes)
    mounted = []
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute):
            dependant = getattr(context, "dependant", None) or route.dependant
            methods = frozenset(context.methods or ())
            mounted.append(MountedRoute(str(context.path), str(context.path_format), methods, dependant, route))
    return mounted
