"""The single-node adapter: nothing travels, except a loopback broadcast, which comes back."""

from __future__ import annotations

from socketrush.adapters.base import RemoteBroadcast
from socketrush.adapters.local import LocalAdapter


def test_only_a_loopback_broadcast_reaches_the_node_and_at_once() -> None:
    delivered: list[RemoteBroadcast] = []
    adapter = LocalAdapter()
    adapter.start(delivered.append)
    adapter.publish("1", "news", b"plain", None)
    assert delivered == []
    adapter.publish("1", "presence-room", b"back", "1.2", loopback=True)
    assert delivered == [RemoteBroadcast("1", "presence-room", b"back", "1.2", True)]
