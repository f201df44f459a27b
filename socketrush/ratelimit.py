"""A fixed-window per-second limiter: cheap enough to sit on every request and event."""

from __future__ import annotations

import time


class PerSecondLimiter:
    """Allows `limit` units per wall-clock second; a limit of 0 means unlimited.

    A fixed window (not a sliding one) is what Pusher-style "N per second" limits promise and
    costs two integers per limiter, which matters when every socket has one.
    """

    __slots__ = ("limit", "_window", "_used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._window = 0
        self._used = 0

    def take(self, count: int = 1) -> bool:
        if not self.limit:
            return True
        window = int(time.monotonic())
        if window != self._window:
            self._window, self._used = window, 0
        if self._used + count > self.limit:
            return False
        self._used += count
        return True
