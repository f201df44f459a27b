"""The adapter interface: how a node shares broadcasts with the other nodes of a cluster.

A node publishes every broadcast it delivers locally once through its adapter; the adapter
hands broadcasts published by *other* nodes to `deliver`, which the node wires to its apps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RemoteBroadcast:
    """One broadcast as it travels between nodes: already encoded, never re-encoded."""

    app_id: str
    channel: str
    payload: bytes
    except_socket_id: str | None


Deliver = Callable[[RemoteBroadcast], None]


class Adapter(ABC):
    """Cross-node fan-out. `start` receives the callback for broadcasts from other nodes."""

    @abstractmethod
    def start(self, deliver: Deliver) -> None: ...

    @abstractmethod
    def publish(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None
    ) -> None:
        """Share one locally delivered broadcast with the other nodes. The parts come loose,
        not as a `RemoteBroadcast`, so a node without peers allocates nothing per event."""

    @abstractmethod
    def stop(self) -> None: ...

    @property
    def healthy(self) -> bool:
        """False while the adapter cannot reach the other nodes (the node is then not ready)."""
        return True
