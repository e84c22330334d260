"""Structured logs: every line of a request carries its id, in JSON or text."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest
from fastapi import APIRouter

from eventeye.core.auth.dependencies import Public
from eventeye.logs import RequestIdFilter, configure_logging
from eventeye.modules import LoadedModule
from tests.core.conftest import RunApp


def chatty_module() -> LoadedModule:
    router = APIRouter()

    @router.get("/probe/log")
    async def log_something(_: Public) -> dict[str, str]:
        logging.getLogger("eventeye.probe").info("handling", extra={"items": 3})
        return {}

    @router.get("/probe/crash")
    async def crash(_: Public) -> None:
        raise RuntimeError("boom")

    return LoadedModule(name="probe", router=router, register=lambda registry: None)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging installs its handler on the root logger; take it off afterwards.

    Only that handler: pytest swaps its own capturing handlers in and out
    around each phase, so restoring a saved list would revive stale ones.
    """
    root = logging.getLogger()
    level = root.level
    yield
    for handler in root.handlers[:]:
        if any(isinstance(f, RequestIdFilter) for f in handler.filters):
            root.removeHandler(handler)
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.usefixtures("restore_logging")
class TestJsonLogs:
    async def test_lines_logged_during_a_request_carry_its_id(
        self, run_app: RunApp, capsys: pytest.CaptureFixture[str]
    ) -> None:
        async with run_app(modules=[chatty_module()]) as running:
            configure_logging("INFO", "json")
            capsys.readouterr()
            response = await running.client.get("/probe/log", headers={"X-Request-ID": "req-7"})
            assert response.status_code == 200
        lines = [line for line in json_lines(capsys.readouterr().err) if line["logger"] == "eventeye.probe"]
        assert len(lines) == 1
        assert (lines[0]["request_id"], lines[0]["message"], lines[0]["items"]) == ("req-7", "handling", 3)
        assert lines[0]["level"] == "INFO"

    async def test_unhandled_error_is_logged_once_with_the_request_id(
        self, run_app: RunApp, capsys: pytest.CaptureFixture[str]
    ) -> None:
        async with run_app(modules=[chatty_module()]) as running:
            configure_logging("INFO", "json")
            capsys.readouterr()
            response = await running.client.get("/probe/crash")
        crashes = [line for line in json_lines(capsys.readouterr().err) if "RuntimeError: boom" in str(line)]
        assert len(crashes) == 1, crashes
        assert (crashes[0]["level"], crashes[0]["message"]) == ("ERROR", "unhandled error")
        assert crashes[0]["request_id"] == response.headers["X-Request-ID"]

    def test_lines_outside_a_request_have_no_id(self, capsys: pytest.CaptureFixture[str]) -> None:
        configure_logging("INFO", "json")
        logging.getLogger("eventeye.test").warning("outside")
        (line,) = json_lines(capsys.readouterr().err)
        assert (line["request_id"], line["message"], line["level"]) == ("-", "outside", "WARNING")


@pytest.mark.usefixtures("restore_logging")
class TestTextLogs:
    async def test_lines_carry_the_request_id(self, run_app: RunApp, capsys: pytest.CaptureFixture[str]) -> None:
        async with run_app(modules=[chatty_module()]) as running:
            configure_logging("INFO", "text")
            capsys.readouterr()
            await running.client.get("/probe/log", headers={"X-Request-ID": "req-8"})
        (line,) = [line for line in capsys.readouterr().err.splitlines() if "eventeye.probe" in line]
        assert "[req-8] handling" in line

    def test_level_filters_lines(self, capsys: pytest.CaptureFixture[str]) -> None:
        configure_logging("WARNING", "text")
        logging.getLogger("eventeye.test").info("hidden")
        logging.getLogger("eventeye.test").warning("shown")
        err = capsys.readouterr().err
        assert "shown" in err
        assert "hidden" not in err
