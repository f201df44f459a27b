"""Local driver: this process counts alone (a single node, or nodes without a shared Redis)."""

from __future__ import annotations

import time
from collections.abc import Callable

from socketrush.ratelimit.base import Kind, RateLimiter
from socketrush.ratelimit.window import PerSecondLimiter


class LocalRateLimiter(RateLimiter):
    """One fixed-window counter per app and kind, on the monotonic clock.

    No actor owns the counters: a take reads and writes two integers without yielding, and
    gevent switches greenlets only where one yields, so concurrent requests cannot interleave
    inside it. Asking an actor instead would cost every API call a mailbox round trip for
    the same answer. The table grows with the apps in use, like the node's app actors.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, Kind], PerSecondLimiter] = {}

    def _take(self, app_id: str, kind: Kind, limit: int, count: int) -> bool:
        window = self._windows.get((app_id, kind))
        if window is None:
            window = self._windows[app_id, kind] = PerSecondLimiter(limit)
        window.limit = limit  # follows settings the app manager changed
        return window.take(count, now=self._clock())
