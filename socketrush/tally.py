"""Counting on the hottest paths without a lock per count.

A prometheus-client counter takes a lock on every `inc` (a gevent lock once monkey-patched),
which showed up at ~5 % of server CPU when every WebSocket read counted its message and its
bytes. A `Tally` is a plain integer that the hot path adds to; its sum moves into the real
counter when this process's exporter answers a scrape and once a second (so the other
workers' values reach the shared files in gunicorn's multiprocess mode). A scrape therefore
never misses what this process counted before it.
"""

from __future__ import annotations

import functools

import gevent
from prometheus_client.metrics import Counter, Gauge

FLUSH_INTERVAL_SECONDS = 1.0

_tallies: list[Tally] = []
_flusher: gevent.Greenlet | None = None


class Tally:
    """Adds up counts for one labelled counter; `pending` is the hot path's only write. A
    gauge's tally takes changes of either sign (+1 opened, -1 closed)."""

    __slots__ = ("_child", "pending")

    def __init__(self, child: Counter | Gauge) -> None:
        self._child = child
        self.pending = 0

    def flush(self) -> None:
        pending, self.pending = self.pending, 0
        if pending:
            self._child.inc(pending)


@functools.cache
def tally(child: Counter | Gauge) -> Tally:
    """The tally of a counter with its labels bound, e.g. `tally(BYTES_IN.labels(app_id))`."""
    global _flusher
    counted = Tally(child)
    _tallies.append(counted)
    if _flusher is None:
        _flusher = gevent.spawn(_flush_forever)
    return counted


def flush_all() -> None:
    for counted in _tallies:
        counted.flush()


def _flush_forever() -> None:
    while True:
        gevent.sleep(FLUSH_INTERVAL_SECONDS)
        flush_all()
