"""Unit tests of what dashboards on different nodes send each other."""

from __future__ import annotations

import pytest

from socketrush.adapters.base import RemoteBroadcast
from socketrush.dashboard import peers


def broadcast(channel: str, payload: bytes = b"", app_id: str = "1") -> RemoteBroadcast:
    return RemoteBroadcast(app_id, channel, payload, None)


def test_messages_round_trip() -> None:
    assert peers.decode(broadcast(peers.LISTEN)) == peers.RemoteListening("1")
    assert peers.decode(broadcast(peers.LOG, b'{"event":"log"}')) == peers.RemoteLog(
        "1", b'{"event":"log"}'
    )
    payload = peers.stats_payload("node-a", {"1": (3, 2.5), "2": (0, 0.0)})
    assert peers.decode(broadcast(peers.STATS, payload, app_id="")) == peers.NodeFigures(
        "node-a", {"1": (3, 2.5), "2": (0, 0.0)}
    )


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[]",
        b'{"node": "a"}',
        b'{"node": "a", "apps": {"1": []}}',
        b'{"node": "a", "apps": {"1": ["x", 1]}}',
        b'{"node": "a", "apps": []}',
    ],
)
def test_malformed_figures_are_dropped(payload: bytes) -> None:
    assert peers.decode(broadcast(peers.STATS, payload)) is None


def test_unknown_dashboard_names_are_dropped() -> None:
    assert peers.decode(broadcast(peers.PREFIX + "other")) is None
