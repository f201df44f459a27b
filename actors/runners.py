"""Greenlets that run actors' work (and, in `socketrush serve`, connections) and are kept for
the next piece of work.

Why not a fresh greenlet each time: under Python 3.11 a new greenlet's first call allocates a
new 16 KB frame-stack chunk with `mmap` and frees it with `munmap` when the greenlet ends, so
every activation of an idle actor cost two system calls and four fresh pages (measured with
`strace -c` under the client-events benchmark: one mmap/munmap pair per event, 40 % of the
server's system calls). A parked runner keeps its chunk, and reusing it is one switch.

Semantics match `gevent.spawn_raw`: the work starts soon, from the event loop, in a greenlet
of its own that may block (ask, I/O) without holding up other work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent
from gevent import get_hub
from greenlet import getcurrent, greenlet

logger = logging.getLogger("actors")

MAX_IDLE_RUNNERS = 256  # each parked runner holds ~20 KB (5 MB at most); more are let go

Work = Callable[[], None]

_idle: list[greenlet] = []


def run_soon(work: Work) -> greenlet:
    """Run `work()` soon in a greenlet of its own; returns that greenlet."""
    while _idle:
        runner = _idle.pop()
        if not runner.dead:
            get_hub().loop.run_callback(runner.switch, work)
            return runner
    # Handed over in a list that `_serve` empties: greenlet keeps the arguments of a
    # greenlet's first call for as long as it runs, which for a runner is forever.
    return gevent.spawn_raw(_serve, [work])


def idle_runners() -> int:
    return len(_idle)


def parked_runners() -> tuple[greenlet, ...]:
    """The runners parked now: alive by design, so a count of live greenlets leaves them out."""
    return tuple(_idle)


def _serve(first: list[Work]) -> None:
    hub = get_hub()
    me = getcurrent()
    work = first.pop()
    while True:
        try:
            work()
        except Exception:  # the work's own bug: log it, keep the runner
            logger.exception("work failed outside its own error handling")
        del work  # a parked runner must not keep its last work (and all it refers to) alive
        if len(_idle) >= MAX_IDLE_RUNNERS:
            return
        _idle.append(me)
        try:
            work = hub.switch()  # parked until run_soon hands over the next work
        except BaseException:  # killed while parked (e.g. at exit): never hand it work again
            if me in _idle:
                _idle.remove(me)
            raise
