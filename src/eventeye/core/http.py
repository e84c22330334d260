"""ASGI middleware: request ids, Prometheus request metrics, and a bound on request bodies."""

from __future__ import annotations

import logging
import re
import secrets
import time
from functools import lru_cache
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventeye.core.responses import OrjsonResponse
from eventeye.errors import PayloadTooLarge, error_body
from eventeye.logs import request_id_var

logger = logging.getLogger("eventeye.errors")

REQUESTS = Counter("eventeye_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "eventeye_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# What a caller may choose as its request id: it is echoed in a header and written to logs.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), without building a dict of them all."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def _request_id(scope: Scope) -> str:
    incoming = (_header(scope, b"x-request-id") or b"").decode("latin-1")
    # 32 random hex digits, as uuid4().hex gives, at a quarter of its cost.
    return incoming if SAFE_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)


@lru_cache(maxsize=4096)
def _request_metrics(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The counter and histogram children of one (method, route, status): looked up once, not per request."""
    return REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``), logs it, and records its metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here rather than by Starlette's outermost handler, which
            # re-raises: the server would log the error a second time, without
            # the request id.
            logger.exception("unhandled error")
            if status:
                raise
            body = error_body("internal", "Internal server error", [{"request_id": request_id}])
            await OrjsonResponse(body, 500)(scope, receive, send_with_id)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = _route_template(scope)
            count, latency = _request_metrics(method, route, status or 500)
            count.inc()
            latency.observe(time.perf_counter() - started)
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Answers 413 when a request body exceeds ``max_bytes``, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            # The server reads no more than the declared length: nothing to watch.
            await self.app(scope, receive, send)
            return
        received = 0
        exceeded = started = False

        async def limited() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise PayloadTooLarge(f"request body exceeds {self.max_bytes} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app makes of the interrupted read (FastAPI turns it
            # into a 400, a custom envelope into a 500), the client gets a 413.
            nonlocal started
            if exceeded and not started:
                started = True
                await self._reject(scope, receive, send)
            if exceeded:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = error_body(
            "payload_too_large",
            f"request body exceeds {self.max_bytes} bytes",
            [{"field": "body", "reason": f"larger than {self.max_bytes} bytes"}],
        )
        response: Any = OrjsonResponse(body, status_code=413)
        await response(scope, receive, send)
