"""Delayed callbacks on the event loop: a libev timer parks no greenlet while it waits.

Thousands of actors may each hold a timer (activity timeouts, retries); a sleeping greenlet per
timer would cost memory and a context switch, a loop timer costs neither until it fires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent

_pending = 0  # timers armed and neither fired nor cancelled, in this process


def pending_timers() -> int:
    """How many delayed calls are waiting now: a figure that must return to its baseline
    once the connections and actors that armed them are gone (see actors/census.py)."""
    return _pending


class Cancellable:
    """Handle of one pending delayed call. `Cancellable()` is a handle with nothing pending."""

    __slots__ = ("_watcher", "_on_release")

    def __init__(self) -> None:
        self._watcher: Any = None
        self._on_release: Callable[[Cancellable], None] | None = None

    @classmethod
    def after(
        cls,
        delay: float,
        callback: Callable[[], None],
        on_release: Callable[[Cancellable], None] | None = None,
    ) -> Cancellable:
        """Call `callback()` from the hub after `delay` seconds unless cancelled first.

        The callback runs in the hub, so it must not block. `on_release(handle)` runs once when
        the handle stops being pending (fired or cancelled), which lets an owner that tracks
        its timers forget them without scanning.
        """
        global _pending
        handle = cls()
        handle._on_release = on_release
        handle._watcher = gevent.get_hub().loop.timer(max(delay, 0.0))
        handle._watcher.start(handle._fire, callback)
        _pending += 1
        return handle

    @property
    def active(self) -> bool:
        """True until the call fired or was cancelled."""
        return self._watcher is not None

    def cancel(self) -> None:
        """Prevent the call. Idempotent; does nothing once the call fired."""
        self._release()

    def _fire(self, callback: Callable[[], None]) -> None:
        self._release()
        callback()

    def _release(self) -> None:
        global _pending
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            return
        _pending -= 1
        watcher.stop()
        watcher.close()
        on_release, self._on_release = self._on_release, None
        if on_release is not None:
            on_release(self)
