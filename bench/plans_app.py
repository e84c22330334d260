"""The app the `/search` benchmark serves: eventeye's API plus a bare endpoint to compare against.

``GET /bench/bare`` answers a precomputed body (the file named by
``EVENTEYE_BENCH_BARE_BODY``, read on the first call) through the same
middleware, with no work at all: the ceiling `/search` is measured against.
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

    @app.get("/bench/bare")
    async def bare(_: Public) -> Response:
        if not body:
            body.append(await asyncio.to_thread(path.read_bytes))
        return Response(body[0], media_type="application/json")

    return app
