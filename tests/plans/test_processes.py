"""Real processes: `eventeye plans sync` from the command line, and `eventeye serve` syncing in the background."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import run_server, server_env
from tests.plans.feeds import SAMPLE
from tests.plans.provider import FakeProvider, Reply

pytestmark = pytest.mark.slow


def cli_env(database_url: str, tmp_path: Path, provider_url: str | None) -> dict[str, str]:
    env = {**os.environ, **server_env(database_url, tmp_path / "data")}
    env.update(EVENTEYE_PLANS_PROVIDER_RETRIES="0", EVENTEYE_PLANS_PROVIDER_TIMEOUT="3")
    env.pop("EVENTEYE_PLANS_PROVIDER_URL", None)
    if provider_url:
        env["EVENTEYE_PLANS_PROVIDER_URL"] = provider_url
    return env


def plans_sync(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "eventeye", "plans", "sync"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class TestSyncCommand:
    @pytest.mark.usefixtures("engine")
    def test_reports_what_changed(self, database_url: str, tmp_path: Path, provider: FakeProvider) -> None:
        provider.serve(Reply(SAMPLE))
        out, err = plans_sync(cli_env(database_url, tmp_path, provider.url)).communicate(timeout=60)
        assert "succeeded" in out
        assert "4 new, 0 updated, 0 unchanged, 1 invalid, 0 offline" in out
        assert "skipped event at line 27: event_start_date: '2021-09-31T20:00:00'" in out

    @pytest.mark.usefixtures("engine")
    def test_a_failed_sync_exits_1_with_the_reason(
        self, database_url: str, tmp_path: Path, provider: FakeProvider
    ) -> None:
        provider.serve(Reply(status=500))
        process = plans_sync(cli_env(database_url, tmp_path, provider.url))
        out, err = process.communicate(timeout=60)
        assert process.returncode == 1
        assert out.startswith("failed")
        assert "error: the provider answered 500" in err

    @pytest.mark.usefixtures("engine")
    def test_it_runs_at_a_lower_cpu_priority(self, database_url: str, tmp_path: Path, provider: FakeProvider) -> None:
        release = threading.Event()
        provider.serve(Reply(SAMPLE, delay=60, hold=release))
        env = cli_env(database_url, tmp_path, provider.url) | {"EVENTEYE_PLANS_SYNC_NICE": "7"}
        process = plans_sync(env)
        try:
            deadline = time.monotonic() + 30
            while provider.requests == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert provider.requests >= 1  # the sync is under way, past start-up
            stat = Path(f"/proc/{process.pid}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()  # from field 3 of proc(5) on
            assert int(fields[16]) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)  # nice
            assert int(fields[38]) == os.SCHED_IDLE  # scheduling policy
        finally:
            release.set()
            process.communicate(timeout=60)
        assert process.returncode == 0

    def test_without_a_provider_it_says_so(self, database_url: str, tmp_path: Path) -> None:
        process = plans_sync(cli_env(database_url, tmp_path, None))
        _, err = process.communicate(timeout=60)
        assert process.returncode == 1
        assert "EVENTEYE_PLANS_PROVIDER_URL" in err

    @pytest.mark.usefixtures("engine")
    def test_two_processes_at_once_sync_once(self, database_url: str, tmp_path: Path, provider: FakeProvider) -> None:
        release = threading.Event()
        provider.serve(Reply(SAMPLE, delay=60, hold=release))  # the first to get the lease waits for the second
        env = cli_env(database_url, tmp_path, provider.url)
        processes = [plans_sync(env) for _ in range(2)]
        busy = wait_for_exit(processes, 60)
        release.set()
        _, busy_err = busy.communicate()
        assert busy.returncode == 75
        assert "another process is syncing" in busy_err
        [syncing] = [p for p in processes if p is not busy]
        out, _ = syncing.communicate(timeout=60)
        assert syncing.returncode == 0
        assert out.startswith("succeeded")
        assert provider.requests == 1


def wait_for_exit(processes: list[subprocess.Popen[str]], timeout: float) -> subprocess.Popen[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                return process
        time.sleep(0.1)
    raise AssertionError("neither process finished")


def search_ids(url: str) -> dict[str, str]:
    response = httpx.get(f"{url}/search", timeout=10)
    assert response.status_code == 200
    return {plan["title"]: plan["id"] for plan in response.json()["data"]["events"]}


def wait_for_titles(url: str, title: str, timeout: float = 30) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = search_ids(url)
        if title in ids:
            return ids
        time.sleep(0.2)
    raise AssertionError(f"{title!r} never appeared in /search")


@pytest.mark.usefixtures("engine")
def test_serve_syncs_in_the_background_and_ids_survive_a_restart(
    database_url: str, tmp_path: Path, provider: FakeProvider
) -> None:
    provider.serve(Reply(SAMPLE))
    env = server_env(
        database_url, tmp_path / "data", EVENTEYE_PLANS_PROVIDER_URL=provider.url, EVENTEYE_PLANS_SYNC_INTERVAL="1"
    )
    with run_server(env, tmp_path) as server:
        before = wait_for_titles(server.url, "Los Morancos")
    provider.serve(Reply(SAMPLE.replace(b"Los Morancos", b"Los Morancos (renamed)")))
    with run_server(env, tmp_path) as server:
        after = wait_for_titles(server.url, "Los Morancos (renamed)")
    assert len(before) == 3  # titles: Pantomima Full is two plans under one title
    assert after["Los Morancos (renamed)"] == before["Los Morancos"]
    assert after["Camela en concierto"] == before["Camela en concierto"]
