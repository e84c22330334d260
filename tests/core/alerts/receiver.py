"""A real local HTTP server that receives webhooks, and fails on purpose when told to."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fixtures.server import free_port


@dataclass(frozen=True)
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers the next of ``statuses`` (then ``default``) to every POST, and records what it got."""

    url: str = ""
    statuses: deque[int] = field(default_factory=deque)
    default: int = 200
    received: list[Received] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(Received(time.monotonic(), dict(request.headers), body))
        status = self.statuses.popleft() if self.statuses else self.default
        return Response(status_code=status)


@asynccontextmanager
async def receiver(*statuses: int, default: int = 200) -> AsyncIterator[Receiver]:
    """A receiver listening on 127.0.0.1 for the duration of the block."""
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hook", statuses=deque(statuses), default=default)
    app = Starlette(routes=[Route("/hook", state.handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield state
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
