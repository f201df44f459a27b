"""The dashboard's figures: per app, connections and messages per second, sampled every
`SAMPLE_SECONDS` into a bounded ring that the charts draw (the last hour).

"Messages" are WebSocket messages the app's connections sent and received, the counts the
Prometheus metrics already keep (`socketrush_ws_messages_sent` / `_received`), so sampling
costs nothing on the message path: a tick reads two counters per app.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from socketrush import metrics

SAMPLE_SECONDS = 10.0
RING_SAMPLES = 360  # an hour of samples


@dataclass(frozen=True, slots=True)
class Sample:
    time: float  # seconds since the epoch
    connections: int
    messages_per_second: float


class SampleRing:
    """The last `size` samples of one app, oldest first: three fixed arrays of machine
    numbers (8.6 KB per app for an hour), since a node may serve thousands of apps."""

    def __init__(self, size: int = RING_SAMPLES) -> None:
        self._size = size
        self._times = array("d", bytes(8 * size))
        self._connections = array("q", bytes(8 * size))
        self._rates = array("d", bytes(8 * size))
        self._next = 0  # where the next sample goes
        self._count = 0

    def add(self, sample: Sample) -> None:
        at = self._next
        self._times[at] = sample.time
        self._connections[at] = sample.connections
        self._rates[at] = sample.messages_per_second
        self._next = (at + 1) % self._size
        self._count = min(self._count + 1, self._size)

    @property
    def latest(self) -> Sample | None:
        if not self._count:
            return None
        at = (self._next - 1) % self._size
        return Sample(self._times[at], self._connections[at], self._rates[at])

    def _ordered(self, column: array) -> list:
        start = (self._next - self._count) % self._size
        return [column[(start + i) % self._size] for i in range(self._count)]

    def columns(self) -> dict[str, list]:
        """Column arrays, as a chart draws them (one x array, one per series)."""
        return {
            "time": [round(t, 3) for t in self._ordered(self._times)],
            "connections": self._ordered(self._connections),
            "messages_per_second": [round(r, 2) for r in self._ordered(self._rates)],
        }


def message_totals(app_ids: Iterable[str]) -> dict[str, float]:
    """Messages sent plus received so far by each app's connections on this process."""
    wanted = set(app_ids)
    totals = dict.fromkeys(wanted, 0.0)
    for counter in (metrics.MESSAGES_OUT, metrics.MESSAGES_IN):
        for family in counter.collect():
            for sample in family.samples:
                app_id = sample.labels.get("app_id")
                if sample.name.endswith("_total") and app_id in wanted:
                    totals[app_id] += sample.value
    return totals


class RateMeter:
    """Turns running totals into rates between two readings."""

    def __init__(self) -> None:
        self._last: Mapping[str, float] = {}
        self._last_time: float | None = None

    def rates(self, totals: Mapping[str, float], now: float) -> dict[str, float]:
        """Per second since the previous reading (0 at the first, and for a new app)."""
        elapsed = None if self._last_time is None else now - self._last_time
        rates = {}
        for app_id, total in totals.items():
            before = self._last.get(app_id)
            if elapsed is None or elapsed <= 0 or before is None:
                rates[app_id] = 0.0
            else:
                rates[app_id] = max(0.0, total - before) / elapsed
        self._last, self._last_time = dict(totals), now
        return rates
