"""``/users``, ``/login`` and ``/v1/apps``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from eventeye.core.auth import repository as auth_repository
from eventeye.core.auth import service as auth_service
from eventeye.core.auth.dependencies import AdminAccess, DbConn, Public, ReadConn, RuntimeDep, SignupCaller
from eventeye.core.auth.models import App, User
from eventeye.core.auth.schemas import AppCreate, AppCreated, AppRead, Token, UserCreate, UserRead
from eventeye.core.storage.engine import write_transaction
from eventeye.errors import Forbidden, RateLimited, Unauthorized

router = APIRouter(tags=["auth"])


def _user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id, username=user.username, email=user.email, is_admin=user.is_admin, created_at=user.created_at
    )


def _app_read(app: App) -> AppRead:
    return AppRead(
        id=app.id,
        name=app.name,
        key_prefix=app.key_prefix,
        scopes=sorted(app.scopes),
        created_at=app.created_at,
        revoked_at=app.revoked_at,
        last_used_at=app.last_used_at,
    )


@router.post("/users", status_code=201, response_model=UserRead)
async def create_user(body: UserCreate, conn: DbConn, runtime: RuntimeDep, caller: SignupCaller) -> UserRead:
    """Create a user. The first user is created openly as an admin; later ones need an admin
    (or ``EVENTEYE_OPEN_SIGNUP=true``)."""
    await auth_repository.lock_users(conn)
    first = await auth_repository.count_users(conn) == 0
    caller_is_admin = caller is not None and caller.kind == "user" and caller.is_admin
    if not first and not caller_is_admin and not runtime.settings.open_signup:
        if caller is None:
            raise Unauthorized("an admin token is required to create users")
        raise Forbidden("only admins may create users")
    user = await auth_service.create_user(
        conn,
        username=body.username,
        password=body.password,
        email=body.email,
        is_admin=first or (caller_is_admin and body.is_admin),
        min_password_length=runtime.settings.password_min_length,
    )
    return _user_read(user)


@router.post("/login", response_model=Token)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    conn: ReadConn,
    runtime: RuntimeDep,
    _: Public,
) -> Token:
    """OAuth2 password flow: exchange a username and password for a bearer token."""
    address = request.client.host if request.client else "unknown"
    wait = max(runtime.login_by_user.retry_after(form.username), runtime.login_by_address.retry_after(address))
    if wait:
        raise RateLimited("too many failed logins; try again later", retry_after=wait)
    user = await auth_service.authenticate(conn, username=form.username, password=form.password)
    if user is None:
        runtime.login_by_user.record_failure(form.username)
        runtime.login_by_address.record_failure(address)
        raise Unauthorized("Incorrect username or password")
    runtime.login_by_user.reset(form.username)
    token = runtime.tokens.issue(str(user.id))
    return Token(access_token=token, expires_in=int(runtime.settings.access_token_ttl.total_seconds()))


@router.post("/v1/apps", status_code=201, response_model=AppCreated, tags=["apps"])
async def create_app(body: AppCreate, conn: DbConn, _: AdminAccess) -> AppCreated:
    """Register an application; the answer holds its API key, shown this once."""
    app, key = await auth_service.create_app(conn, name=body.name, scopes=body.scopes)
    return AppCreated(**_app_read(app).model_dump(), key=key)


@router.get("/v1/apps", response_model=list[AppRead], tags=["apps"])
async def list_apps(conn: ReadConn, _: AdminAccess) -> list[AppRead]:
    return [_app_read(app) for app in await auth_repository.list_apps(conn)]


@router.delete("/v1/apps/{name}", status_code=204, tags=["apps"])
async def revoke_app(name: str, runtime: RuntimeDep, _: AdminAccess) -> Response:
    """Revoke an application's key; it stops working at once in this process."""
    # Committed before the key cache is cleared, so that no request can cache
    # the key again from a database that does not show the revocation yet.
    async with write_transaction(runtime.engine) as conn:
        await auth_service.revoke_app(conn, name=name)
    runtime.api_keys.invalidate()
    return Response(status_code=204)
