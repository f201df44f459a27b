"""A clock the test sets by hand, so a limiter's window moves only when the test says so."""

from __future__ import annotations


class Clock:
    """Seconds set by the test; limiters read them as their clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
