"""The error tree of eventeye and the one handler that renders it.

    EventeyeError                 500 internal
    ├── BadRequest                400 bad_request
    ├── Unauthorized              401 unauthorized (carries WWW-Authenticate)
    ├── Forbidden                 403 forbidden
    ├── NotFound                  404 not_found
    ├── Conflict                  409 conflict
    ├── PayloadTooLarge           413 payload_too_large
    ├── InvalidInput              422 invalid_input
    ├── RateLimited               429 rate_limited (carries Retry-After)
    └── Unavailable               503 unavailable

The ``/v1`` API answers ``{"error": {"code", "message", "details"}}``. A
router with a fixed public contract renders its own envelope by giving its
routes ``route_class=envelope_route(renderer)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from eventeye.core.responses import OrjsonResponse
from eventeye.core.storage.outage import database_unreachable

logger = logging.getLogger("eventeye.errors")


class EventeyeError(Exception):
    """Base of every error eventeye raises on purpose; carries its HTTP status."""

    status_code = 500
    code = "internal"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        self.headers = headers or {}


class BadRequest(EventeyeError):
    status_code = 400
    code = "bad_request"


class Unauthorized(EventeyeError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "Not authenticated", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(EventeyeError):
    status_code = 403
    code = "forbidden"


class NotFound(EventeyeError):
    status_code = 404
    code = "not_found"


class Conflict(EventeyeError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(EventeyeError):
    status_code = 413
    code = "payload_too_large"


class InvalidInput(EventeyeError):
    status_code = 422
    code = "invalid_input"


class RateLimited(EventeyeError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unavailable(EventeyeError):
    status_code = 503
    code = "unavailable"


def field_detail(field: str, reason: str, **extra: Any) -> dict[str, Any]:
    """One entry of an error's ``details``: which field, and why."""
    return {"field": field, "reason": reason, **extra}


def validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Turn FastAPI's validation errors into ``{"field", "reason"}`` details."""
    details = []
    for item in exc.errors():
        loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path", "header")]
        details.append(field_detail(".".join(loc) or str(item.get("loc", [""])[0]), item.get("msg", "invalid")))
    return details


def error_body(code: str, message: str, details: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": list(details)}}


def _render(exc: EventeyeError) -> Response:
    return OrjsonResponse(error_body(exc.code, exc.message, exc.details), exc.status_code, headers=exc.headers)


async def _on_eventeye_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, EventeyeError)
    return _render(exc)


def _malformed_body(exc: RequestValidationError) -> BadRequest | None:
    """A body that is not JSON at all is a bad request (400), not invalid input (422)."""
    for item in exc.errors():
        if item.get("type") == "json_invalid":
            reason = str(item.get("ctx", {}).get("error", "not valid JSON"))
            return BadRequest("The request body is not valid JSON", details=[field_detail("body", reason)])
    return None


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _render(_malformed_body(exc) or InvalidInput("The request is not valid", details=validation_details(exc)))


def _http_code(status: int) -> str:
    return {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")


async def _on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _http_code(exc.status_code)
    headers = getattr(exc, "headers", None) or {}
    return OrjsonResponse(error_body(code, str(exc.detail)), exc.status_code, headers=headers)


async def _on_database_error(request: Request, exc: Exception) -> Response:
    if database_unreachable(exc):
        logger.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return _render(Unavailable("the database is unavailable; retry shortly", headers={"Retry-After": "1"}))
    return await _on_unhandled(request, exc)


async def _on_unhandled(request: Request, exc: Exception) -> Response:
    request_id = getattr(request.state, "request_id", "-")
    logger.exception("unhandled error", extra={"request_id": request_id})
    return OrjsonResponse(
        error_body("internal", "Internal server error", [{"request_id": request_id}]),
        500,
        headers={"X-Request-ID": request_id},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the one ``/v1`` error shape for every error type."""
    app.add_exception_handler(EventeyeError, _on_eventeye_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(Exception, _on_unhandled)


ErrorRenderer = Callable[[int, str, str, list[dict[str, Any]]], Response]
"""Builds a response from (status, code, message, details)."""


def envelope_route(renderer: ErrorRenderer) -> type[APIRoute]:
    """A route class whose errors are rendered by ``renderer`` instead of the ``/v1`` shape."""

    class EnvelopeRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    details = validation_details(exc)
                    message = "; ".join(f"{d['field']}: {d['reason']}" for d in details)
                    return renderer(400, "invalid_parameters", message, details)
                except EventeyeError as exc:
                    return renderer(exc.status_code, exc.code, exc.message, exc.details)
                except StarletteHTTPException as exc:  # FastAPI's own, e.g. a body it cannot parse
                    return renderer(exc.status_code, _http_code(exc.status_code), str(exc.detail), [])
                except Exception:
                    request_id = getattr(request.state, "request_id", "-")
                    logger.exception("unhandled error", extra={"request_id": request_id})
                    return renderer(500, "internal", "Internal server error", [])

            return guarded

    return EnvelopeRoute
