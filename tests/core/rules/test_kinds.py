"""Each kind's state machine: when it fires, when it does not, how it re-arms, and that its state round-trips."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from eventeye.core.rules.kinds import Absence, Consecutive, Machine, Match, Rate
from tests.core.rules.helpers import T0, fact


def feed(machine: Machine, state: Any, steps: list[tuple[float, bool]]) -> list[int]:
    """Indices of the steps that fired."""
    fired = []
    for index, (at, matched) in enumerate(steps):
        if machine.step(state, fact(at), matched) is not None:
            fired.append(index)
    return fired


def restarted(machine: Machine, state: Any) -> Any:
    return machine.load(machine.dump(state))


class TestMatch:
    def test_fires_for_each_matching_event_only(self) -> None:
        machine = Match()
        assert feed(machine, None, [(0, True), (1, False), (2, True)]) == [0, 2]

    def test_the_trigger_is_the_event(self) -> None:
        subject = fact()
        fire = Match().step(None, subject, True)
        assert fire is not None
        assert fire.trigger == str(subject.event_id)
        assert fire.fact is subject


class TestConsecutive:
    def test_fires_once_when_the_streak_reaches_n(self) -> None:
        machine = Consecutive(3)
        assert feed(machine, machine.new(), [(i, True) for i in range(6)]) == [2]

    def test_one_short_does_not_fire(self) -> None:
        machine = Consecutive(3)
        assert feed(machine, machine.new(), [(0, True), (1, True), (2, False), (3, True), (4, True)]) == []

    def test_a_break_re_arms(self) -> None:
        machine = Consecutive(2)
        steps = [(0, True), (1, True), (2, True), (3, False), (4, True), (5, True)]
        assert feed(machine, machine.new(), steps) == [1, 5]

    def test_n_of_one_fires_on_every_new_streak(self) -> None:
        machine = Consecutive(1)
        assert feed(machine, machine.new(), [(0, True), (1, True), (2, False), (3, True)]) == [0, 3]

    def test_keeps_the_streak_across_a_restart(self) -> None:
        machine = Consecutive(4)
        state = machine.new()
        feed(machine, state, [(0, True), (1, True)])
        state = restarted(machine, state)
        assert feed(machine, state, [(2, True), (3, True)]) == [1]

    def test_reports_the_streak_events(self) -> None:
        machine = Consecutive(3)
        state = machine.new()
        events = [fact(i) for i in range(3)]
        fires = [machine.step(state, event, True) for event in events]
        last = fires[-1]
        assert last is not None
        assert list(last.event_ids) == [str(event.event_id) for event in events]


class TestRate:
    def test_fires_when_more_than_n_fall_in_the_window(self) -> None:
        machine = Rate(3, timedelta(seconds=10), 10)
        assert feed(machine, machine.new(), [(0, True), (1, True), (2, True), (3, True)]) == [3]

    def test_n_spread_wider_than_the_window_does_not_fire(self) -> None:
        machine = Rate(2, timedelta(seconds=10), 10)
        assert feed(machine, machine.new(), [(0, True), (6, True), (12, True), (18, True)]) == []

    def test_non_matching_events_do_not_count(self) -> None:
        machine = Rate(1, timedelta(seconds=10), 10)
        assert feed(machine, machine.new(), [(0, True), (1, False), (2, False)]) == []

    def test_fires_once_per_burst_and_re_arms_when_it_calms_down(self) -> None:
        machine = Rate(2, timedelta(seconds=10), 10)
        burst = [(float(i), True) for i in range(6)]
        later = [(100.0 + i, True) for i in range(3)]
        assert feed(machine, machine.new(), burst + later) == [2, 8]

    def test_events_older_than_the_window_never_count(self) -> None:
        machine = Rate(1, timedelta(seconds=10), 10)
        state = machine.new()
        feed(machine, state, [(100, True)])
        assert feed(machine, state, [(50, True), (40, True)]) == []

    def test_late_events_inside_the_window_count(self) -> None:
        machine = Rate(1, timedelta(seconds=10), 10)
        state = machine.new()
        assert feed(machine, state, [(100, True), (95, True)]) == [1]

    def test_keeps_its_window_across_a_restart(self) -> None:
        machine = Rate(2, timedelta(seconds=10), 5)
        state = machine.new()
        feed(machine, state, [(0, True), (1, True)])
        assert feed(machine, restarted(machine, state), [(2, True)]) == [0]


class TestAbsence:
    silence = timedelta(seconds=60)

    def test_fires_once_the_silence_has_lasted(self) -> None:
        machine = Absence(self.silence)
        state = machine.new()
        feed(machine, state, [(0, True)])
        assert machine.due(state) == T0 + self.silence
        assert machine.check(state, T0 + timedelta(seconds=59)) is None
        fire = machine.check(state, T0 + self.silence)
        assert fire is not None
        assert machine.due(state) is None

    def test_fires_once_per_silence(self) -> None:
        machine = Absence(self.silence)
        state = machine.new()
        feed(machine, state, [(0, True)])
        assert machine.check(state, T0 + timedelta(seconds=61)) is not None
        assert machine.check(state, T0 + timedelta(seconds=600)) is None

    def test_the_next_event_re_arms(self) -> None:
        machine = Absence(self.silence)
        state = machine.new()
        feed(machine, state, [(0, True)])
        first = machine.check(state, T0 + timedelta(seconds=61))
        feed(machine, state, [(120, True)])
        second = machine.check(state, T0 + timedelta(seconds=181))
        assert first is not None
        assert second is not None
        assert first.trigger != second.trigger

    def test_never_seen_keys_and_non_matching_events_do_not_arm(self) -> None:
        machine = Absence(self.silence)
        state = machine.new()
        feed(machine, state, [(0, False)])
        assert machine.due(state) is None
        assert machine.check(state, T0 + timedelta(days=1)) is None

    def test_a_gap_between_events_fires_even_without_the_timer(self) -> None:
        machine = Absence(self.silence)
        state = machine.new()
        assert feed(machine, state, [(0, True), (30, True), (200, True)]) == [2]
        assert machine.check(state, T0 + timedelta(seconds=230)) is None

    def test_late_events_neither_re_arm_nor_fire(self) -> None:
        machine = Absence(self.silence)
        state = machine.new()
        feed(machine, state, [(100, True)])
        assert machine.check(state, T0 + timedelta(seconds=161)) is not None
        assert feed(machine, state, [(10, True)]) == []
        assert machine.due(state) is None

    def test_a_restart_remembers_it_fired(self) -> None:
        machine = Absence(self.silence)
        state = machine.new()
        feed(machine, state, [(0, True)])
        machine.check(state, T0 + timedelta(seconds=61))
        assert machine.check(restarted(machine, state), T0 + timedelta(seconds=120)) is None
