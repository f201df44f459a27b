"""tests/support/polling.wait_until, which most end-to-end tests lean on."""

from __future__ import annotations

import time

import pytest

from tests.support.polling import POLL_INTERVAL, wait_until


def test_it_sleeps_with_the_time_sleep_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """After gevent's monkey-patching (locust's tests do it) a poll must yield to the hub, or
    a webhook Receiver's greenlet threads never run while a test waits for their requests."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    answers = iter([False, False, True])
    wait_until(lambda: next(answers), 5, lambda: "never")
    assert slept == [POLL_INTERVAL, POLL_INTERVAL]


def test_it_fails_with_the_description_once_the_time_is_up() -> None:
    with pytest.raises(AssertionError, match="^still waiting$"):
        wait_until(lambda: False, 0.1, lambda: "still waiting")
