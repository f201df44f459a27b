"""Runners: reused greenlets for actor work, with spawn_raw's semantics."""

from __future__ import annotations

import gc
import weakref

import gevent
from gevent.event import Event

from actors import runners


def test_work_runs_soon_not_inline() -> None:
    ran: list[str] = []
    runners.run_soon(lambda: ran.append("work"))
    assert ran == []
    gevent.sleep(0)
    assert ran == ["work"]


def test_a_finished_runner_is_reused_for_the_next_work() -> None:
    seen: list[object] = []
    first = runners.run_soon(lambda: seen.append(gevent.getcurrent()))
    gevent.sleep(0)
    second = runners.run_soon(lambda: seen.append(gevent.getcurrent()))
    gevent.sleep(0)
    assert seen == [first, first]
    assert second is first


def test_blocked_work_does_not_hold_up_other_work() -> None:
    release = Event()
    order: list[str] = []

    def blocked() -> None:
        release.wait()
        order.append("blocked")

    first = runners.run_soon(blocked)
    second = runners.run_soon(lambda: order.append("other"))
    gevent.sleep(0)
    assert second is not first
    assert order == ["other"]
    release.set()
    gevent.sleep(0)
    assert order == ["other", "blocked"]


def test_failing_work_is_logged_and_the_runner_kept(caplog) -> None:
    def fail() -> None:
        raise ValueError("boom")

    runner = runners.run_soon(fail)
    gevent.sleep(0)
    assert "work failed outside its own error handling" in caplog.text
    assert not runner.dead
    assert runners.run_soon(lambda: None) is runner


def test_the_idle_pool_is_bounded() -> None:
    release = Event()
    busy = [runners.run_soon(release.wait) for _ in range(runners.MAX_IDLE_RUNNERS + 10)]
    gevent.sleep(0)
    release.set()
    gevent.sleep(0)
    assert runners.idle_runners() == runners.MAX_IDLE_RUNNERS
    assert sum(runner.dead for runner in busy) >= 10


def test_a_runner_killed_while_parked_is_never_handed_work() -> None:
    runner = runners.run_soon(lambda: None)
    gevent.sleep(0)
    gevent.kill(runner)
    gevent.sleep(0)
    assert runner.dead
    ran: list[bool] = []
    assert runners.run_soon(lambda: ran.append(True)) is not runner
    gevent.sleep(0)
    assert ran == [True]


class Work:
    """A piece of work that can be watched for being freed."""

    def __init__(self, ran: list[str]) -> None:
        self.ran = ran

    def __call__(self) -> None:
        self.ran.append("ran")


def test_a_parked_runner_keeps_no_work_alive() -> None:
    """Work refers to whatever it serves (a whole connection): once done it must be freed,
    whether it was a new runner's first work or a reused runner's."""
    ran: list[str] = []
    blocker = Event()
    busy = runners.run_soon(blocker.wait)  # the next work needs a runner of its own
    while runners.idle_runners():  # and no parked one may take it
        runners.run_soon(blocker.wait)
        gevent.sleep(0)
    first = Work(ran)
    watched = [weakref.ref(first)]
    new_runner = runners.run_soon(first)
    assert new_runner is not busy
    del first
    gevent.sleep(0)
    again = Work(ran)
    watched.append(weakref.ref(again))
    assert runners.run_soon(again) is new_runner  # parked after the first work: reused
    del again
    gevent.sleep(0)
    gc.collect()
    assert ran == ["ran", "ran"]
    assert [ref() for ref in watched] == [None, None]
    blocker.set()
    gevent.sleep(0)
