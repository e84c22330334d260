"""Who may call ``/secapp/update``: the ``token`` and ``App-name`` headers of the original contract.

``token`` is either an application's API key with the ``criticality`` scope
(then ``App-name`` must be that application's name) or the shared token of
``EVENTEYE_CRITICALITY_TOKEN`` (any ``App-name``).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header
from fastapi.security import APIKeyHeader

from eventeye.core.auth.apikeys import KEY_PREFIX
from eventeye.core.auth.dependencies import RuntimeDep, declare_access
from eventeye.core.auth.models import App, Scope
from eventeye.core.auth.service import app_principal
from eventeye.core.runtime import Runtime
from eventeye.errors import BadRequest, Forbidden, Unauthorized, field_detail

CHALLENGE = {"WWW-Authenticate": 'Token realm="secapp"'}
MAX_APP_NAME = 150

token_header = APIKeyHeader(
    name="token",
    scheme_name="SecappToken",
    description="An API key with the criticality scope, or the shared EVENTEYE_CRITICALITY_TOKEN",
    auto_error=False,
)


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


@declare_access("criticality")
async def secapp_caller(
    runtime: RuntimeDep,
    token: Annotated[str | None, Depends(token_header)],
    app_name: Annotated[str | None, Header(alias="App-name", description="The calling application's name")] = None,
) -> str:
    """The caller's App-name, once its token is checked (401), named (400) and allowed (403)."""
    app = await _authenticate(runtime, token)
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


SecappCaller = Annotated[str, Depends(secapp_caller)]
"""The App-name of an authenticated ``/secapp`` caller."""
