"""The local driver: one process's fixed windows, driven by an injected clock."""

from __future__ import annotations

import dataclasses

from socketrush.ratelimit.local import LocalRateLimiter
from socketrush.settings import AppSettings
from tests.socketrush.ratelimit.clock import Clock

APP = AppSettings(
    id="app-1", key="k", secret="s", max_backend_events_per_second=3, max_read_requests_per_second=2
)


def test_exact_counts_in_one_window_per_app_and_kind() -> None:
    limiter = LocalRateLimiter(Clock(100.2))
    other = dataclasses.replace(APP, id="app-2")
    assert [limiter.take(APP, "backend_events") for _ in range(4)] == [True, True, True, False]
    assert [limiter.take(APP, "read_requests") for _ in range(3)] == [True, True, False]
    assert [limiter.take(other, "backend_events") for _ in range(4)] == [True, True, True, False]


def test_next_second_starts_from_zero() -> None:
    clock = Clock(100.0)
    limiter = LocalRateLimiter(clock)
    assert limiter.take(APP, "backend_events", 3) is True
    clock.now = 100.999
    assert limiter.take(APP, "backend_events") is False
    clock.now = 101.0
    assert [limiter.take(APP, "backend_events") for _ in range(4)] == [True, True, True, False]


def test_a_refused_take_uses_nothing() -> None:
    limiter = LocalRateLimiter(Clock(100.0))
    answers = [limiter.take(APP, "backend_events", count) for count in (2, 2, 1, 1)]
    assert answers == [True, False, True, False]


def test_new_settings_apply_in_the_current_window() -> None:
    limiter = LocalRateLimiter(Clock(100.0))
    assert limiter.take(APP, "backend_events", 3) is True
    raised = dataclasses.replace(APP, max_backend_events_per_second=4)
    assert [limiter.take(raised, "backend_events") for _ in range(2)] == [True, False]


def test_zero_means_unlimited() -> None:
    limiter = LocalRateLimiter(Clock(100.0))
    unlimited = dataclasses.replace(APP, max_read_requests_per_second=0)
    assert all(limiter.take(unlimited, "read_requests", 1000) for _ in range(100))
