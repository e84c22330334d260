"""The app the `/search` benchmark serves: eventeye's API plus two bare endpoints to compare against.

Both answer a precomputed body (the file named by ``EVENTEYE_BENCH_BARE_BODY``,
read on the first call) through the same middleware, doing no work at all:

- ``GET /bench/bare`` sits first in the routing table, so it also pays the
  least route matching: the ceiling of this app on this machine;
- ``GET /bench/bare-here`` sits where the plans module's routes are, so it
  pays the same route matching as `/search`: the difference is `/search`'s
  own work.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from fastapi import FastAPI, Response

from eventeye.app import create_app
from eventeye.core.auth.dependencies import Public


def create() -> FastAPI:
    app = create_app(roles={"api"})
    path = Path(os.environ["EVENTEYE_BENCH_BARE_BODY"])
    body: list[bytes] = []

    async def bare(_: Public) -> Response:
        if not body:
            body.append(await asyncio.to_thread(path.read_bytes))
        return Response(body[0], media_type="application/json")

    routes = app.router.routes
    app.add_api_route("/bench/bare-here", bare, methods=["GET"])
    here = routes.pop()
    app.add_api_route("/bench/bare", bare, methods=["GET"])
    routes.insert(0, routes.pop())
    plans_at = next(i for i, r in enumerate(routes) if getattr(r, "path", None) == "/search")
    routes.insert(plans_at, here)
    return app
