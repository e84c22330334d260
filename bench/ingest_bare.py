"""The bare handler the ingestion benchmark measures eventeye against.

A FastAPI app that only reads and parses the request body and answers 202,
run by uvicorn (httptools + uvloop, one worker) like ``eventeye serve``:

    .venv/bin/python bench/ingest_bare.py --port 8100
"""

from __future__ import annotations

import argparse
import logging

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/v1/events", status_code=202)
async def ingest(request: Request) -> Response:
    parsed = orjson.loads(await request.body())
    count = len(parsed) if isinstance(parsed, list) else 1
    return Response(orjson.dumps({"accepted": count}), status_code=202, media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    # As eventeye does: access lines are not logged, nor built.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
