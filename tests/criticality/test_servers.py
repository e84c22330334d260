"""Real server processes: restart persistence, exactly once across two processes, the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.criticality.conftest import TOKEN, secapp_headers
from tests.fixtures.server import run_server, server_env
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.slow


def env_for(database_url: str, tmp_path: Path) -> dict[str, str]:
    return server_env(database_url, tmp_path / "data", EVENTEYE_CRITICALITY_TOKEN=TOKEN, EVENTEYE_MODULES="criticality")


async def post(http: httpx.AsyncClient, url: str, status: int, change_at: str) -> int:
    body = {"current_status": status, "Change_at": change_at}
    response = await http.post(f"{url}/secapp/update", json=body, headers=secapp_headers("producer"))
    assert response.status_code == 200, response.text
    return int(response.json()["processed_id"])


async def get(http: httpx.AsyncClient, url: str, app_name: str) -> dict[str, Any]:
    response = await http.get(f"{url}/secapp/update", headers=secapp_headers(app_name))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_states_ids_and_marks_survive_a_restart(engine: AsyncEngine, database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url, tmp_path)
    async with httpx.AsyncClient(timeout=10) as http:
        with run_server(env, tmp_path) as server:
            first = await post(http, server.url, 4, "2019-06-01T08:00:00Z")
            assert (await get(http, server.url, "seen"))["status_change_id"] == first
        with run_server(env, tmp_path) as server:
            assert await get(http, server.url, "seen") == {}
            assert await get(http, server.url, "unseen") == {
                "current_status": 4,
                "status_change_id": first,
                "Change_at": "2019-06-01T08:00:00Z",
            }
            assert await post(http, server.url, 2, "2019-06-01T07:00:00Z") > first


@pytest.mark.postgres_only
async def test_two_processes_tell_each_state_once(
    engine: AsyncEngine, database_url: str, backend: str, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("several processes share a database server only on PostgreSQL")
    env = env_for(database_url, tmp_path)
    limits = httpx.Limits(max_connections=200)
    with run_server(env, tmp_path, command="api") as one, run_server(env, tmp_path, command="api") as two:
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            ids = []
            for round_number, server in enumerate((one, two)):
                ids.append(await post(http, server.url, 1 + round_number, f"2019-06-01T08:0{round_number}:00Z"))
                urls = [one.url, two.url] * 50
                answers = await asyncio.gather(*(get(http, url, "contended") for url in urls))
                assert [answer["status_change_id"] for answer in answers if answer] == [ids[-1]]
            assert ids == sorted(set(ids))


def run_simulator(url: str) -> dict[str, Any]:
    args = [sys.executable, "-m", "eventeye", "criticality", "simulate", "--url", url, "--json", "--seed", "7"]
    args += ["--producers", "2", "--consumers", "3", "--duration", "2", "--post-interval", "0.1"]
    args += ["--poll-interval", "0.05", "--late-ratio", "0.3"]
    done = subprocess.run(
        args,
        env={**os.environ, "EVENTEYE_CRITICALITY_TOKEN": TOKEN},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def test_the_simulator_against_a_real_server(engine: AsyncEngine, database_url: str, tmp_path: Path) -> None:
    with run_server(env_for(database_url, tmp_path), tmp_path) as server:
        result = await asyncio.to_thread(run_simulator, server.url)
        async with httpx.AsyncClient(timeout=10) as http:
            latest = await get(http, server.url, "observer")
            await http.post(f"{server.url}/users", json={"username": "admin", "password": "long enough pw"})
            login = await http.post(f"{server.url}/login", data={"username": "admin", "password": "long enough pw"})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            history = await http.get(f"{server.url}/v1/criticality/history?limit=1000", headers=headers)
            expected = sum(consumer["polls"] for consumer in result["consumers"])

            async def listed_polls() -> dict[str, int]:  # written in batches, shortly after the polls
                listed = await http.get(f"{server.url}/v1/criticality/consumers", headers=headers)
                return {item["app_name"]: item["polls"] for item in listed.json()["items"]}

            polls = await eventually(listed_polls, lambda seen: sum(seen.values()) >= expected + 1, timeout=10)
    posted = sum(producer["posted"] for producer in result["producers"])
    assert posted >= 10
    assert len(history.json()["items"]) == posted
    assert result["latest"]["status_change_id"] == latest["status_change_id"]
    for consumer in result["consumers"]:
        assert consumer["up_to_date"]
        assert consumer["told_twice"] == []
        assert consumer["status_change_ids"][-1] == latest["status_change_id"]
        assert polls[consumer["name"]] == consumer["polls"]
