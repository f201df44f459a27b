"""A fixed-window per-second limiter: cheap enough to sit on every request and event."""

from __future__ import annotations

import time


class PerSecondLimiter:
    """Allows `limit` units per second of the monotonic clock; a limit of 0 means unlimited.

    A fixed window (not a sliding one) is what Pusher-style "N per second" limits promise and
    costs two integers per limiter, which matters when every socket has one. A refused take
    uses nothing, so a too large batch does not starve smaller requests after it.
    """

    __slots__ = ("limit", "_window", "_used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._window = 0
        self._used = 0

    def take(self, count: int = 1, now: float | None = None) -> bool:
        """`now` (seconds) replaces the monotonic clock, for callers that bring their own."""
        if not self.limit:
            return True
        window = int(time.monotonic() if now is None else now)
        if window != self._window:
            self._window, self._used = window, 0
        if self._used + count > self.limit:
            return False
        self._used += count
        return True
