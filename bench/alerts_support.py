"""What the rules and alerts benchmarks share: a scratch database, eventeye processes, keys, events."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

EVENTEYE = [sys.executable, "-m", "eventeye"]
SECRET = "bench-secret-key-" + "x" * 32
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
ADMIN = {"username": "admin", "password": "benchmark password 1234"}
START = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_database(kind: str, directory: Path) -> Iterator[str]:
    """A new SQLite file or PostgreSQL database, migrated; dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{directory / 'eventeye.db'}"
        migrate(url, directory)
        yield url
        return
    name = f"eventeye_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{PG_SERVER}/{name}"
        migrate(url, directory)
        yield url
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin_sql(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def env_for(url: str, directory: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "EVENTEYE_DATABASE_URL": url,
        "EVENTEYE_DATA_DIR": str(directory / "data"),
        "EVENTEYE_SECRET_KEY": SECRET,
        "EVENTEYE_LOG_LEVEL": "WARNING",
        "EVENTEYE_MODULES": "web",
        **extra,
    }


def migrate(url: str, directory: Path) -> None:
    subprocess.run([*EVENTEYE, "migrate"], env=env_for(url, directory), check=True, capture_output=True)


@contextmanager
def eventeye(command: str, env: dict[str, str], log: Path, pids: list[int] | None = None) -> Iterator[str]:
    """``eventeye serve|api|worker`` on 127.0.0.1; yields its URL (empty for a worker), its pid added to ``pids``."""
    port = free_port()
    args = [*EVENTEYE, command] + (["--host", "127.0.0.1", "--port", str(port)] if command != "worker" else [])
    with log.open("ab") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}" if command != "worker" else ""
    if pids is not None:
        pids.append(process.pid)
    try:
        if url:
            _wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"eventeye exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def app_key(url: str) -> dict[str, str]:
    """Sign up the admin and return the headers of an app that may ingest and read."""
    httpx.post(f"{url}/users", json=ADMIN, timeout=30)
    token = httpx.post(f"{url}/login", data=ADMIN, timeout=30).json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    body = {"name": f"bench-{uuid.uuid4().hex[:6]}", "scopes": ["ingest", "read"]}
    key = httpx.post(f"{url}/v1/apps", json=body, headers=admin, timeout=30).json()["key"]
    return {"Authorization": f"Bearer {key}"}


def web_event(session: str, index: int, *, name: str = "pageview") -> dict[str, Any]:
    category = "form interaction" if name == "submit" else "page interaction"
    data: dict[str, Any] = {"host": f"www{index % 3}.example.com", "path": f"/p/{index % 500}"}
    if name == "cta click":
        data["element"] = f"button-{index % 7}"
    if name == "submit":
        data["form"] = {"first_name": "Ada", **({"last_name": "Lovelace"} if index % 3 else {})}
    return {
        "session_id": session,
        "category": category,
        "name": name,
        "data": data,
        "timestamp": (START + timedelta(milliseconds=10 * index)).isoformat(sep=" "),
    }


def rules_json(rules: list[dict[str, Any]]) -> str:
    return orjson.dumps(rules).decode()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine() -> str:
    cpus = os.cpu_count()
    return f"{cpus} CPU(s), Python {sys.version.split()[0]}, {os.uname().sysname} {os.uname().release}"
