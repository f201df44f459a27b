"""The activity wheel: due checks run once each from the event loop, none early, a cancelled
one never; its loop timer runs only while a check is due."""

from __future__ import annotations

import logging

import pytest
from gevent.event import Event

from socketrush.connection.activity import ActivityWheel


class Owner:
    def __init__(self, fail: bool = False) -> None:
        self.runs = 0
        self.ran = Event()
        self.fail = fail

    def activity_due(self) -> None:
        self.runs += 1
        self.ran.set()
        if self.fail:
            raise RuntimeError("a bug in one check")


@pytest.fixture
def clock() -> list[float]:
    return [1000.0]


@pytest.fixture
def wheel(clock: list[float]) -> ActivityWheel:
    return ActivityWheel(lambda: clock[0])


def test_checks_run_once_when_due_and_not_when_cancelled(clock, wheel) -> None:
    soon, cancelled, later = Owner(), Owner(), Owner()
    wheel.arm(soon, 1.0)
    wheel.cancel(cancelled, wheel.arm(cancelled, 1.0))
    wheel.arm(later, 5.0)
    assert (len(wheel), wheel.running) == (2, True)

    clock[0] += 1.0
    assert soon.ran.wait(2)
    assert (soon.runs, cancelled.runs, later.runs, len(wheel)) == (1, 0, 0, 1)

    clock[0] += 4.0
    assert later.ran.wait(2)
    assert (soon.runs, cancelled.runs, later.runs, len(wheel)) == (1, 0, 1, 0)
    assert not wheel.running  # nothing due: no more wake-ups


def test_a_check_armed_again_runs_at_its_new_time_only(clock, wheel) -> None:
    owner = Owner()
    first = wheel.arm(owner, 1.0)
    wheel.cancel(owner, first)
    wheel.arm(owner, 3.0)
    clock[0] += 3.0
    assert owner.ran.wait(2)
    assert (owner.runs, len(wheel)) == (1, 0)


def test_a_failing_check_is_logged_and_the_others_still_run(clock, wheel, caplog) -> None:
    failing, other = Owner(fail=True), Owner()
    wheel.arm(failing, 1.0)
    wheel.arm(other, 1.0)
    clock[0] += 1.0
    with caplog.at_level(logging.ERROR, logger="socketrush.connection.activity"):
        assert other.ran.wait(2)
    assert (failing.runs, other.runs) == (1, 1)
    assert [r.message for r in caplog.records].count(f"activity check of {failing!r} failed") == 1
