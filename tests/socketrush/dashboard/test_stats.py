"""Unit tests of the figures' ring and rates."""

from __future__ import annotations

from socketrush import metrics
from socketrush.dashboard.stats import RateMeter, Sample, SampleRing, message_totals


def test_ring_keeps_the_newest_samples_as_columns() -> None:
    ring = SampleRing(size=3)
    assert ring.latest is None
    for second in range(5):
        ring.add(Sample(100.0 + second, second, second / 4))
    assert ring.latest == Sample(104.0, 4, 1.0)
    assert ring.columns() == {
        "time": [102.0, 103.0, 104.0],
        "connections": [2, 3, 4],
        "messages_per_second": [0.5, 0.75, 1.0],
    }


def test_rates_between_readings() -> None:
    meter = RateMeter()
    assert meter.rates({"a": 100.0}, now=10.0) == {"a": 0.0}  # nothing to compare with yet
    assert meter.rates({"a": 150.0, "b": 7.0}, now=20.0) == {"a": 5.0, "b": 0.0}
    assert meter.rates({"a": 150.0, "b": 27.0}, now=30.0) == {"a": 0.0, "b": 2.0}
    assert meter.rates({"a": 10.0, "b": 27.0}, now=30.0) == {"a": 0.0, "b": 0.0}


def test_message_totals_add_sent_and_received_per_app() -> None:
    before = message_totals(["stats-app", "stats-other"])
    metrics.MESSAGES_OUT.labels("stats-app").inc(5)
    metrics.MESSAGES_IN.labels("stats-app").inc(2)
    metrics.MESSAGES_OUT.labels("stats-elsewhere").inc(100)
    after = message_totals(["stats-app", "stats-other"])
    assert after["stats-app"] - before["stats-app"] == 7
    assert after["stats-other"] == before["stats-other"] == 0
    assert set(after) == {"stats-app", "stats-other"}
