"""Activity checks for every connection of the process, on one loop timer.

Each connection is checked once per activity timeout of silence (SocketActor.activity_due).
A loop timer per connection made every connect build a timer watcher, a handle and bound
methods, kept for the connection's life, and every close cancel them: measured, 1.4 % of a
connect's instructions (loadtests/instructions.py) and 0.2-0.3 KB per idle connection
(loadtests/idle_connections.py, 2,000 connections). Here a connection is filed under the
tick its check is due in (a dict entry), and one repeating timer, running only while any
check is due, works through the ticks that have passed. A check runs up to `TICK_SECONDS`
late, against activity timeouts of seconds to minutes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from gevent import get_hub

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25


class Checked(Protocol):
    """What a wheel holds: something with a check to run when it is due."""

    def activity_due(self) -> None: ...


class ActivityWheel:
    """Due checks by tick (monotonic time / TICK_SECONDS, rounded up). `arm` files one and
    returns its tick, which `cancel` needs; the check runs in the event loop (never block),
    once, unless cancelled or armed again first."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ticks: dict[int, dict[Checked, None]] = {}  # tick -> its checks, in arming order
        self._done = int(clock() / TICK_SECONDS)  # ticks up to this one are worked through
        self._timer: Any = None

    def __len__(self) -> int:
        """Checks waiting: back at its baseline once the connections are gone."""
        return sum(len(due) for due in self._ticks.values())

    @property
    def running(self) -> bool:
        """Whether its loop timer runs: only while a check is due."""
        return self._timer is not None

    def arm(self, owner: Checked, delay: float) -> int:
        if self._timer is None:
            self._start()
        tick = -int(-(self._clock() + delay) // TICK_SECONDS)  # rounded up: never early
        if tick <= self._done:
            tick = self._done + 1
        due = self._ticks.get(tick)
        if due is None:
            due = self._ticks[tick] = {}
        due[owner] = None
        return tick

    def cancel(self, owner: Checked, tick: int) -> None:
        due = self._ticks.get(tick)
        if due is not None:
            due.pop(owner, None)
            if not due:
                del self._ticks[tick]

    def _start(self) -> None:
        self._done = int(self._clock() / TICK_SECONDS)
        self._timer = get_hub().loop.timer(TICK_SECONDS, TICK_SECONDS)
        self._timer.start(self._turn)

    def _turn(self) -> None:
        now = int(self._clock() / TICK_SECONDS)
        ticks = self._ticks
        while self._done < now:
            self._done += 1
            due = ticks.pop(self._done, None)
            if due is None:
                continue
            for owner in due:
                try:
                    owner.activity_due()
                except Exception:  # one connection's bug must not skip the others' checks
                    log.exception("activity check of %r failed", owner)
        if not ticks:  # nothing due any more: no wake-ups while no connection is open
            self._timer.stop()
            self._timer.close()
            self._timer = None


# The process's wheel: one event loop per process, under `serve` and gunicorn alike.
ACTIVITY = ActivityWheel()
