"""The installed ``eventeye`` command lists its commands and prints its version."""

from __future__ import annotations

from pathlib import Path

from eventeye import __version__
from tests.fixtures.cli import run_cli


class TestHelp:
    def test_lists_every_command(self, tmp_path: Path) -> None:
        result = run_cli("--help", env={}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for command in ("serve", "api", "worker", "migrate", "users", "apps", "version"):
            assert f" {command} " in result.stdout

    def test_serve_takes_host_port_and_workers(self, tmp_path: Path) -> None:
        result = run_cli("serve", "--help", env={}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for option in ("--host", "--port", "--workers"):
            assert option in result.stdout


class TestVersion:
    def test_prints_the_package_version(self, tmp_path: Path) -> None:
        result = run_cli("version", env={}, cwd=tmp_path)
        assert (result.returncode, result.stdout.strip()) == (0, __version__)
