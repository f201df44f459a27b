"""The adapter interface: how a node shares broadcasts and commands with the other nodes.

A node publishes every broadcast it delivers locally once through its adapter, and sends the
commands only other nodes can carry out (see `messages.py`); the adapter hands what *other*
nodes published to `deliver`, which the node wires to its apps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from socketrush.adapters.messages import Command, NodeMessage, RemoteBroadcast

__all__ = ["Adapter", "Deliver", "RemoteBroadcast"]

Deliver = Callable[[NodeMessage], None]


class Adapter(ABC):
    """Cross-node fan-out. `start` receives the callback for messages from other nodes."""

    @abstractmethod
    def start(self, deliver: Deliver) -> None: ...

    @abstractmethod
    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        loopback: bool = False,
    ) -> None:
        """Share one locally delivered broadcast with the other nodes. The parts come loose,
        not as a `RemoteBroadcast`, so a node without peers allocates nothing per event.

        `loopback`: the broadcast was not delivered locally; hand it to this node's `deliver`
        too, ordered after every broadcast the other nodes published before it (what a node
        says about itself after the others spoke of it must not overtake their words)."""

    @abstractmethod
    def send(self, command: Command) -> None:
        """Have every other node carry out `command` (never this one: the caller does its
        own share itself)."""

    @abstractmethod
    def stop(self) -> None: ...

    @property
    def healthy(self) -> bool:
        """False while the adapter cannot reach the other nodes (the node is then not ready)."""
        return True
