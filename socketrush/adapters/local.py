"""The single-node adapter: there are no other nodes, so nothing travels."""

from __future__ import annotations

from socketrush.adapters.base import Adapter, Deliver, RemoteBroadcast


class LocalAdapter(Adapter):
    """Every broadcast is already delivered locally by the app actor."""

    def start(self, deliver: Deliver) -> None:
        """Nothing arrives from other nodes, so the callback is never called."""

    def publish(self, broadcast: RemoteBroadcast) -> None:
        """No other node to tell."""

    def stop(self) -> None:
        """No connection to close."""
