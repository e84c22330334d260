"""What the plans benchmarks share: a provider process, a scratch database, timed `eventeye plans sync` runs."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
EVENTEYE = [sys.executable, "-m", "eventeye"]
SECRET = "bench-secret-key-" + "x" * 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@contextmanager
def provider(directory: Path) -> Iterator[str]:
    """Serve ``directory`` with ``python -m http.server`` (a real, separate process); yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/", 10)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def scratch_database(base_url: str | None, directory: Path) -> Iterator[str]:
    """A SQLite file in ``directory``, or a fresh PostgreSQL database on ``base_url``'s server (dropped after)."""
    if not base_url:
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    name = f"eventeye_bench_{uuid.uuid4().hex[:10]}"
    admin = re.sub(r"^postgresql\+asyncpg://", "postgresql://", base_url)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def environment(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "EVENTEYE_DATABASE_URL": database_url,
        "EVENTEYE_DATA_DIR": str(data_dir),
        "EVENTEYE_SECRET_KEY": SECRET,
        "EVENTEYE_LOG_LEVEL": "WARNING",
        **extra,
    }


def migrate(env: dict[str, str]) -> None:
    subprocess.run([*EVENTEYE, "migrate"], env=env, check=True, capture_output=True)


@dataclass(frozen=True)
class SyncResult:
    seconds: float
    peak_rss_mb: float
    output: str
    returncode: int


def start_sync(env: dict[str, str], url: str) -> subprocess.Popen[str]:
    command = [*EVENTEYE, "plans", "sync", "--url", url]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_sync(process: subprocess.Popen[str], started: float) -> SyncResult:
    """Wait for a sync process; its wall time and peak resident memory (from the kernel's accounting)."""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = process.stdout.read() if process.stdout else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    return SyncResult(seconds, usage.ru_maxrss / 1024, output.strip(), process.returncode)


def sync(env: dict[str, str], url: str) -> SyncResult:
    started = time.perf_counter()
    return finish_sync(start_sync(env, url), started)
