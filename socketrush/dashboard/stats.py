"""The dashboard's figures: per app, connections and messages per second, sampled every
`SAMPLE_SECONDS` into a bounded ring that the charts draw (the last hour).

"Messages" are WebSocket messages the app's connections sent and received, the counts the
Prometheus metrics already keep (`socketrush_ws_messages_sent` / `_received`), so sampling
costs nothing on the message path: a tick reads two counters per app.
"""

from __future__ import annotations

from collections import deque
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
    """The last `RING_SAMPLES` samples of one app, oldest first."""

    def __init__(self, size: int = RING_SAMPLES) -> None:
        self._samples: deque[Sample] = deque(maxlen=size)

    def add(self, sample: Sample) -> None:
        self._samples.append(sample)

    @property
    def latest(self) -> Sample | None:
        return self._samples[-1] if self._samples else None

    def columns(self) -> dict[str, list]:
        """Column arrays, as a chart draws them (one x array, one per series)."""
        return {
            "time": [round(s.time, 3) for s in self._samples],
            "connections": [s.connections for s in self._samples],
            "messages_per_second": [round(s.messages_per_second, 2) for s in self._samples],
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
