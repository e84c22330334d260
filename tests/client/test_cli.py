"""``eventeye send``: NDJSON from a file or stdin into a real eventeye."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson

from tests.client.conftest import Eventeye, new_session, pageview
from tests.fixtures.cli import run_cli


def _ndjson(events: list[dict[str, object]]) -> str:
    return "".join(orjson.dumps(event).decode() + "\n" for event in events)


def test_send_from_a_file(eventeye: Eventeye, tmp_path: Path) -> None:
    session = new_session()
    events = [{**pageview(session, i), "id": str(uuid.uuid4())} for i in range(25)]
    path = tmp_path / "events.ndjson"
    path.write_text(_ndjson(events))
    args = ("send", str(path), "--url", eventeye.url, "--key", eventeye.ingest_key, "--batch-size", "10")
    result = run_cli(*args, env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sent 25 events in 3 requests" in result.stdout
    assert [item["id"] for item in eventeye.wait_stored(session, 25)] == [e["id"] for e in events]


def test_send_from_stdin_with_the_key_from_the_environment(eventeye: Eventeye, tmp_path: Path) -> None:
    session = new_session()
    text = _ndjson([pageview(session, 0), pageview(session, 1)]) + "\n" + _ndjson([pageview(session, 2)])
    env = {"EVENTEYE_API_KEY": eventeye.ingest_key, "EVENTEYE_URL": eventeye.url}
    result = run_cli("send", env=env, cwd=tmp_path, stdin=text)
    assert result.returncode == 0, result.stderr
    assert "sent 3 events" in result.stdout
    assert [item["data"]["path"] for item in eventeye.wait_stored(session, 3)] == ["/page/0", "/page/1", "/page/2"]


def test_lines_that_are_not_events_are_reported_and_the_rest_sent(eventeye: Eventeye, tmp_path: Path) -> None:
    session = new_session()
    text = _ndjson([pageview(session, 0)]) + "not json\n" + '{"category": "x"}\n' + _ndjson([pageview(session, 3)])
    args = ("send", "-", "--url", eventeye.url, "--key", eventeye.ingest_key)
    result = run_cli(*args, env={}, cwd=tmp_path, stdin=text)
    assert result.returncode == 1
    assert "line 2:" in result.stderr
    assert "line 3: session_id" in result.stderr
    assert "sent 2 events" in result.stdout
    assert "invalid lines 2" in result.stdout
    assert len(eventeye.wait_stored(session, 2)) == 2


def test_without_a_key_send_says_how_to_give_one(tmp_path: Path) -> None:
    result = run_cli("send", env={}, cwd=tmp_path, stdin="")
    assert result.returncode == 2
    assert "EVENTEYE_API_KEY" in result.stderr
