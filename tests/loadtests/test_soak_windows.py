"""The fault windows' report: losses split by the node the listener was on, so a bus outage
that also cut off the publishing node's own subscribers shows."""

from __future__ import annotations

from loadtests.soak_delivery import Loss, Published
from loadtests.soak_phase import _classify, _window_report

REDIS_UP = 1000.0
WINDOWS = {"redis_restart": (995.0, 1010.0, REDIS_UP, None)}


def _loss(listener_node: str, publishing_node: str, sent: float) -> Loss:
    return Loss(
        "listener", listener_node, Published("soak-stream-0", 1, publishing_node, sent, sent)
    )


def test_losses_on_the_publishing_node_are_reported_apart() -> None:
    lost = [
        _loss("cluster-1", "cluster-0", 998.0),
        _loss("cluster-0", "cluster-1", 999.5),
        _loss("cluster-0", "cluster-0", 1002.25),
        _loss("cluster-1", "cluster-0", 1020.0),  # outside the window
    ]
    by_window = _classify(lost, WINDOWS)
    assert len(by_window.pop("outside")) == 1
    assert _window_report(by_window, WINDOWS) == {
        "redis_restart": {
            "lost": 3,
            "first_sent_s": -2.0,
            "last_sent_s": 2.25,
            "on_publishing_node": {"lost": 1, "first_sent_s": 2.25, "last_sent_s": 2.25},
        }
    }


def test_a_window_without_losses_reports_none() -> None:
    assert _window_report({}, WINDOWS) == {
        "redis_restart": {
            "lost": 0,
            "first_sent_s": None,
            "last_sent_s": None,
            "on_publishing_node": {"lost": 0, "first_sent_s": None, "last_sent_s": None},
        }
    }
