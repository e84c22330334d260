"""The simulator's report flags what breaks exactly-once delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventeye.criticality.simulator import Consumer, Latencies, Producer, report

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def told(*ids_and_instants: tuple[int, str]) -> list[dict[str, object]]:
    return [{"current_status": 1, "status_change_id": i, "Change_at": at} for i, at in ids_and_instants]


def producer() -> Producer:
    # id 3 arrived last but is older: the latest is id 2.
    return Producer("p", posted=[(T0, 1, 1), (T0 + timedelta(seconds=5), 2, 4), (T0 - timedelta(seconds=5), 3, 2)])


def test_a_consumer_told_the_latest_once_passes() -> None:
    consumer = Consumer("c", polls=4, received=told((1, "2024-01-01T00:00:00Z"), (2, "2024-01-01T00:00:05Z")))
    result = report([producer()], [consumer], Latencies(polls=[0.001] * 4), elapsed=1.0)
    assert result["ok"] is True
    assert result["latest"] == {"status_change_id": 2, "current_status": 4}
    assert result["polls"]["count"] == 4


def test_a_state_told_twice_fails() -> None:
    consumer = Consumer("c", received=told((2, "2024-01-01T00:00:05Z"), (2, "2024-01-01T00:00:05Z")))
    result = report([producer()], [consumer], Latencies(), elapsed=1.0)
    assert result["ok"] is False
    assert result["consumers"][0]["told_twice"] == [2]


def test_a_consumer_left_on_a_late_change_fails() -> None:
    consumer = Consumer("c", received=told((2, "2024-01-01T00:00:05Z"), (3, "2023-12-31T23:59:55Z")))
    result = report([producer()], [consumer], Latencies(), elapsed=1.0)
    assert result["ok"] is False
    assert result["consumers"][0]["up_to_date"] is False
    assert result["consumers"][0]["in_order"] is False
