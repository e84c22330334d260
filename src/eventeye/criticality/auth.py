"""Who may call ``/secapp/update``: the ``token`` and ``App-name`` headers of the original contract.

``token`` is either an application's API key with the ``criticality`` scope
(then ``App-name`` must be that application's name) or the shared token of
``EVENTEYE_CRITICALITY_TOKEN`` (any ``App-name``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from eventeye.core.auth.apikeys import KEY_PREFIX
from eventeye.core.auth.dependencies import declare_access
from eventeye.core.auth.models import App, Scope
from eventeye.core.auth.service import app_principal
from eventeye.core.runtime import Runtime
from eventeye.errors import BadRequest, Forbidden, Unauthorized, field_detail

CHALLENGE = {"WWW-Authenticate": 'Token realm="secapp"'}
MAX_APP_NAME = 150


def _unauthorized(reason: str) -> Unauthorized:
    return Unauthorized("Invalid or missing token", details=[field_detail("token", reason)], headers=dict(CHALLENGE))


def _is_shared_token(runtime: Runtime, token: str) -> bool:
    shared = runtime.settings.criticality_token
    if shared is None:
        return False
    return hmac.compare_digest(token.encode(), shared.get_secret_value().encode())


async def _authenticate(runtime: Runtime, token: str | None) -> App | None:
    """The application behind ``token``, None for the shared token; ``Unauthorized`` otherwise."""
    if not token:
        raise _unauthorized("missing")
    if _is_shared_token(runtime, token):
        return None
    app = await runtime.api_keys.resolve(token) if token.startswith(KEY_PREFIX) else None
    if app is None:
        raise _unauthorized("not a valid token")
    return app


def _check_app_name(app_name: str | None) -> str:
    if not app_name:
        raise BadRequest("the App-name header is required", details=[field_detail("App-name", "missing or empty")])
    if len(app_name) > MAX_APP_NAME:
        raise BadRequest(
            "the App-name header is too long", details=[field_detail("App-name", f"longer than {MAX_APP_NAME}")]
        )
    return app_name


def _check_caller(app: App | None, app_name: str | None) -> str:
    """The caller's App-name once it is named (400) and, for an app key, allowed (403)."""
    name = _check_app_name(app_name.strip() if app_name else None)
    if app is not None:
        if not app_principal(app).has(Scope.CRITICALITY):
            raise Forbidden("the token lacks the criticality scope", details=[field_detail("token", "no scope")])
        if app.name != name:
            raise Forbidden(
                "App-name does not match the token's application",
                details=[field_detail("App-name", "must be the name of the token's application")],
            )
    return name


@dataclass(frozen=True, slots=True)
class SecappCall:
    """An authenticated call of ``/secapp/update``: who calls, and the process's runtime."""

    app_name: str
    runtime: Runtime


@declare_access("criticality")
async def secapp_call(request: Request) -> SecappCall:
    """The caller, once its token is checked (401), named (400) and allowed (403).

    One dependency that reads its headers itself: this route answers thousands
    of polls a second, and each dependency FastAPI solves costs every one of them.
    """
    runtime: Runtime = request.app.state.runtime
    app = await _authenticate(runtime, request.headers.get("token"))
    return SecappCall(_check_caller(app, request.headers.get("app-name")), runtime)


SecappCaller = Annotated[SecappCall, Depends(secapp_call)]
"""An authenticated ``/secapp`` call."""

SECAPP_HEADERS: list[dict[str, Any]] = [
    {
        "name": "token",
        "in": "header",
        "required": True,
        "description": "An API key with the criticality scope, or the shared EVENTEYE_CRITICALITY_TOKEN",
        "schema": {"type": "string"},
    },
    {
        "name": "App-name",
        "in": "header",
        "required": True,
        "description": "The calling application's name",
        "schema": {"type": "string", "maxLength": MAX_APP_NAME},
    },
]
"""The two headers, for the OpenAPI description (they are read from the request directly)."""
