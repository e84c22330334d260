"""What the activity benchmarks share: generated detection files, scratch databases, timing."""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import eventeye.activity.tables  # noqa: F401  (the table is part of the metadata)
from eventeye.activity import bulk
from eventeye.config import Settings
from eventeye.core.storage import migrations
from eventeye.core.storage.engine import create_engine

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
EVENTEYE = [sys.executable, "-m", "eventeye"]
SECRET = "bench-secret-key-" + "x" * 32
START = datetime(2024, 1, 1, tzinfo=UTC)
TYPES = ("pedestrian", "bicycle", "car", "truck", "van")
# "scattered": seconds between a camera's detections drawn from these, so that about
# two thirds of the detections start or end a period (a worst case for stored boundaries).
SCATTERED_STEPS = (0.5, 1, 2, 5, 10, 20, 30, 30, 40, 55, 90, 300)


def write_detections(
    path: Path, rows: int, *, cameras: int = 4, profile: str = "bursty", name: str = "camera", seed: int = 7
) -> None:
    """A CSV ``time,type,camera_id`` of ``rows`` detections in time order, cameras interleaved.

    ``bursty``: busy spells of 5 to 100 detections 0.5 to 15 s apart, with 2 to
    30 quiet minutes between them (a street camera); ``scattered``: see above.
    """
    rng = random.Random(seed)
    moments = [START] * cameras
    left = [0] * cameras
    with path.open("w") as out:
        out.write("time,type,camera_id\n")
        for index in range(rows):
            camera = index % cameras
            if profile == "scattered":
                step = rng.choice(SCATTERED_STEPS)
            elif left[camera] == 0:
                step, left[camera] = rng.uniform(120, 1800), rng.randint(5, 100)
            else:
                step = rng.uniform(0.5, 15)
            left[camera] = max(0, left[camera] - 1)
            moments[camera] += timedelta(milliseconds=round(step * 1000))
            stamp = moments[camera].isoformat(timespec="milliseconds").replace("+00:00", "Z")
            out.write(f"{stamp},{rng.choice(TYPES)},{name}-{camera}\n")


def bench_settings(url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"database_url": url, "data_dir": data_dir, "secret_key": SECRET, **overrides}
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def postgres_database(base: str) -> AsyncIterator[str]:
    """A migrated scratch database on the PostgreSQL server at ``base``; dropped afterwards."""
    name = f"eventeye_bench_activity_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = base.rsplit("/", 1)[0] + f"/{name}"
        await migrate(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def migrate(url: str) -> None:
    engine = create_engine(Settings(database_url=url, secret_key=SECRET).resolved_database_url)
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()


async def empty(engine: AsyncEngine) -> None:
    """An empty detections table, its dead rows gone and a checkpoint taken: every run starts alike."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("TRUNCATE activity_detections"))
        else:
            await conn.execute(text("DELETE FROM activity_detections"))
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("CHECKPOINT"))
    await asyncio.sleep(0.5)


async def load_file(url: str, path: Path) -> int:
    """Load ``path`` with eventeye's bulk loader (no rules); returns the rows stored."""
    engine = create_engine(url)
    try:
        with path.open("rb") as handle, io.TextIOWrapper(handle, newline="") as text:
            reader = bulk.file_reader(handle, text, "csv", bulk.latest_allowed(timedelta(minutes=5)))
            return (await bulk.load(engine, reader)).stored
    finally:
        await engine.dispose()


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (n={len(ordered)})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(url: str, data_dir: Path, *, split: bool = False, **env: str) -> Iterator[tuple[str, dict[str, str], int]]:
    """``eventeye serve`` on 127.0.0.1 over ``url`` (``split``: ``eventeye api`` + ``eventeye worker``);
    yields its base URL, headers with an ingest+read key, and the pid of the process serving HTTP."""
    environment = {
        **os.environ,
        "EVENTEYE_DATABASE_URL": url,
        "EVENTEYE_DATA_DIR": str(data_dir),
        "EVENTEYE_SECRET_KEY": SECRET,
        "EVENTEYE_LOG_LEVEL": "WARNING",
        **env,
    }
    created = subprocess.run(
        [*EVENTEYE, "apps", "create", f"bench-{uuid.uuid4().hex[:6]}", "--scope", "ingest", "--scope", "read"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
    port = free_port()
    args = [*EVENTEYE, "api" if split else "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(args, env=environment, start_new_session=True)
    workers = [subprocess.Popen([*EVENTEYE, "worker"], env=environment, start_new_session=True)] if split else []
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield base, headers, process.pid
    finally:
        for child in (process, *workers):
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(30)
