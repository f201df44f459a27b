"""The single-node adapter: there are no other nodes, so nothing travels."""

from __future__ import annotations

from socketrush.adapters.base import Adapter, Deliver
from socketrush.adapters.messages import Command, RemoteBroadcast


class LocalAdapter(Adapter):
    """Every broadcast is already delivered locally by the app actor."""

    def start(self, deliver: Deliver) -> None:
        """Nothing arrives from other nodes: only loopback broadcasts come back at once."""
        self._deliver = deliver

    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        loopback: bool = False,
        event_id: str | None = None,
    ) -> None:
        """No other node to tell, nor to wait for."""
        if loopback and self._deliver is not None:
            broadcast = RemoteBroadcast(app_id, channel, payload, except_socket_id, True, event_id)
            self._deliver(broadcast)

    def send(self, command: Command) -> None:
        """No other node to carry it out."""

    def stop(self) -> None:
        """No connection to close."""
