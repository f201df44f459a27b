"""The single-node adapter: there are no other nodes, so nothing travels."""

from __future__ import annotations

from socketrush.adapters.base import Adapter, Deliver


class LocalAdapter(Adapter):
    """Every broadcast is already delivered locally by the app actor."""

    def start(self, deliver: Deliver) -> None:
        """Nothing arrives from other nodes, so the callback is never called."""

    def publish(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None
    ) -> None:
        """No other node to tell."""

    def stop(self) -> None:
        """No connection to close."""
