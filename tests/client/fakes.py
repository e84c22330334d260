"""A real HTTP server that stands in front of eventeye (or instead of it) and misbehaves on purpose.

Each request to ``POST /v1/events`` takes the next step of ``script``; once the
script is used up every request is forwarded. It runs under uvicorn in a
thread on 127.0.0.1 and records what it was sent.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fixtures.server import free_port


@dataclass(frozen=True)
class Forward:
    """Pass the request to eventeye and its answer back."""


@dataclass(frozen=True)
class Fail:
    """Answer ``status`` without forwarding (nothing is stored)."""

    status: int
    retry_after: str | None = None


@dataclass(frozen=True)
class ForwardThenFail:
    """Forward (eventeye stores the events) but answer ``status``: the client cannot know they were stored."""

    status: int


@dataclass(frozen=True)
class ForwardThenStall:
    """Forward, then hold the answer for ``seconds`` (longer than the client waits)."""

    seconds: float


Step = Forward | Fail | ForwardThenFail | ForwardThenStall


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it."""

    at: float
    ids: list[str]
    status: int


@dataclass
class Misbehaving:
    upstream: str | None
    script: deque[Step] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self.gate.set()

    def hold(self) -> None:
        """Hold every request until ``release()``."""
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    @property
    def events_seen(self) -> list[str]:
        return [event_id for request in self.seen for event_id in request.ids]

    def wait_for_requests(self, count: int, timeout: float = 10) -> list[Seen]:
        """The requests answered, once there are ``count`` of them (or after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.seen)

    def wait_for_arrivals(self, count: int, timeout: float = 10) -> None:
        """Until ``count`` requests have arrived (answered or held at the closed ``gate``)."""
        deadline = time.monotonic() + timeout
        while self.arrived < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.arrived >= count, f"{self.arrived} of {count} requests arrived"

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.arrived += 1
        ids = [str(event["id"]) for event in orjson.loads(body)]
        started = time.monotonic()
        await asyncio.to_thread(self.gate.wait, 30)
        step = self.script.popleft() if self.script else Forward()
        response = await self._answer(step, request, body)
        self.seen.append(Seen(at=started, ids=ids, status=response.status_code))
        return response

    async def _answer(self, step: Step, request: Request, body: bytes) -> Response:
        if isinstance(step, Fail):
            headers = {"Retry-After": step.retry_after} if step.retry_after else {}
            return Response(b'{"error": {"code": "x", "message": "on purpose"}}', step.status, headers=headers)
        forwarded = await self._forward(request, body)
        if isinstance(step, ForwardThenFail):
            return Response(b"{}", step.status)
        if isinstance(step, ForwardThenStall):
            await asyncio.sleep(step.seconds)
        return forwarded

    async def _forward(self, request: Request, body: bytes) -> Response:
        assert self.upstream is not None, "this fake has no eventeye behind it"
        headers = {name: request.headers[name] for name in ("x-api-key", "content-type") if name in request.headers}
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(f"{self.upstream}/v1/events", content=body, headers=headers)
        passed = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "retry-after")}
        return Response(answer.content, answer.status_code, headers=passed)


@contextmanager
def misbehaving(upstream: str | None, *steps: Step, port: int | None = None) -> Iterator[Misbehaving]:
    """Run a ``Misbehaving`` server (on ``port``, or a free one) until the block ends."""
    fake = Misbehaving(upstream=upstream, script=deque(steps))
    port = port or free_port()
    app = Starlette(routes=[Route("/v1/events", fake.handle, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    config.timeout_graceful_shutdown = 1
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"misbehaving-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the misbehaving server did not start"
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        fake.gate.set()
        server.should_exit = True
        thread.join(10)
