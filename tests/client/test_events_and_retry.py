"""What the client checks before buffering, and how it reads ``Retry-After`` and spaces its retries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from eventeye.client import ClientConfig, InvalidEvent
from eventeye.client._events import prepare
from eventeye.client._retry import RetryPolicy, parse_retry_after

EVENT = {"session_id": "s", "category": "page interaction", "name": "pageview", "data": {"host": "h", "path": "/"}}


class TestPrepare:
    def test_keeps_a_given_id_and_timestamp(self) -> None:
        given = uuid.uuid4()
        event_id, body = prepare({**EVENT, "id": str(given), "timestamp": "2021-01-01 09:15:27.243860"})
        assert event_id == given
        assert orjson.loads(body)["timestamp"] == "2021-01-01 09:15:27.243860"

    def test_adds_a_time_ordered_id_and_the_current_time(self) -> None:
        before = datetime.now(UTC)
        first, body = prepare(EVENT)
        second, _ = prepare(EVENT)
        assert first.version == 7
        assert first < second
        assert datetime.fromisoformat(orjson.loads(body)["timestamp"]) >= before

    @pytest.mark.parametrize(
        ("event", "reason"),
        [
            ({**EVENT, "session_id": ""}, "session_id"),
            ({k: v for k, v in EVENT.items() if k != "name"}, "name"),
            ({**EVENT, "category": 3}, "category"),
            ({**EVENT, "data": [1]}, "data"),
            ({**EVENT, "id": "not-a-uuid"}, "id"),
            ({**EVENT, "data": {"x": object()}}, "JSON"),
        ],
    )
    def test_refuses_what_eventeye_could_never_accept(self, event: dict[str, object], reason: str) -> None:
        with pytest.raises(InvalidEvent, match=reason):
            prepare(event)


class TestRetryAfter:
    @pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), ("0", 0.0), (" 1.5 ", 1.5), ("-4", 0.0)])
    def test_seconds(self, header: str, seconds: float) -> None:
        assert parse_retry_after(header) == seconds

    def test_an_http_date(self) -> None:
        now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
        assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0

    @pytest.mark.parametrize("header", [None, "", "soon"])
    def test_absent_or_unreadable_is_none(self, header: str | None) -> None:
        assert parse_retry_after(header) is None


class TestRetryPolicy:
    def test_backoff_doubles_up_to_the_maximum_with_jitter_below_it(self) -> None:
        policy = RetryPolicy(max_retries=10, initial=0.1, maximum=1.0)
        for retry, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (5, 1.0), (9, 1.0)]:
            delays = [policy.delay(retry) for _ in range(200)]
            assert all(0 <= d <= ceiling for d in delays)
            assert max(delays) > ceiling / 2, "full jitter spreads over the whole range"

    def test_retry_after_is_a_floor(self) -> None:
        policy = RetryPolicy(max_retries=10, initial=0.1, maximum=1.0)
        assert all(5.0 <= policy.delay(1, retry_after=5.0) <= 5.1 for _ in range(100))


class TestConfig:
    def test_the_key_comes_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("EVENTEYE_API_KEY", "ee_from_env")
        monkeypatch.setenv("EVENTEYE_URL", "http://example:9000/")
        config = ClientConfig.build(None, None, {})
        assert (config.api_key, config.events_url) == ("ee_from_env", "http://example:9000/v1/events")

    def test_no_key_at_all_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("EVENTEYE_API_KEY", raising=False)
        with pytest.raises(ValueError, match="EVENTEYE_API_KEY"):
            ClientConfig.build("http://x", None, {})

    @pytest.mark.parametrize(
        "options", [{"batch_size": 0}, {"batch_size": 1001}, {"overflow": "drop_newest"}, {"flush_interval": 0}]
    )
    def test_bad_options_are_refused(self, options: dict[str, object]) -> None:
        with pytest.raises(ValueError):
            ClientConfig(url="http://x", api_key="k", **options)  # type: ignore[arg-type]
