"""The adapter interface: how a node shares broadcasts and commands with the other nodes.

A node publishes every broadcast it delivers locally once through its adapter, and sends the
commands only other nodes can carry out (see `messages.py`); the adapter hands what *other*
nodes published to `deliver`, which the node wires to its apps.

A bus adapter routes by interest (`topics.py`): each message travels on a topic, and a node
receives a topic's messages only while something on it `watch`es that topic.
"""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable

from socketrush import metrics
from socketrush.adapters.interest import Ready
from socketrush.adapters.messages import (
    Command,
    MalformedMessage,
    NodeMessage,
    RemoteBroadcast,
    decode,
)
from socketrush.adapters.topics import Topic

__all__ = ["Adapter", "Deliver", "Ready", "RemoteBroadcast"]

Deliver = Callable[[NodeMessage], None]

log = logging.getLogger(__name__)


class Adapter(ABC):
    """Cross-node fan-out. `start` receives the callback for messages from other nodes.

    State: this node's id on the bus (what it published comes back with it), the callback,
    and the counts behind the bus adapters' rate-limited warnings."""

    bus_name = ""  # how the logs name the bus

    def __init__(self) -> None:
        self.node_id = uuid.uuid4().hex
        self._deliver: Deliver | None = None
        self._malformed = 0  # messages from the bus that did not decode
        self._unordered = 0  # `publish_everywhere` calls the bus refused

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
        event_id: str | None = None,
    ) -> None:
        """Share one locally delivered broadcast with the other nodes. The parts come loose,
        not as a `RemoteBroadcast`, so a node without peers allocates nothing per event.

        `loopback`: the broadcast was not delivered locally; hand it to this node's `deliver`
        too, ordered after every broadcast the other nodes published before it (what a node
        says about itself after the others spoke of it must not overtake their words).
        `event_id`: an API event's on a cache channel, for the nodes' channels (see
        `cache.access.new_event_id`)."""

    ordered = False  # `publish_everywhere` is how the HTTP API publishes (a bus adapter)

    def publish_everywhere(self, broadcasts: list[RemoteBroadcast]) -> bool:
        """Publish `broadcasts` (loopback ones) to every node, this one included, and return
        once the bus accepted them, in the calling greenlet (an HTTP request's, never an
        actor's): every node then receives them before anything published after, through
        any node. False: the bus failed, having taken none, some or (reply lost) all of
        them: e.g. on a Redis Cluster, one SPUBLISH per broadcast, those before the failing
        one went out. The caller delivers them here and queues them for the others with
        `publish`, in no guaranteed order, so after a partial failure some may arrive twice."""
        raise NotImplementedError

    @abstractmethod
    def send(self, command: Command) -> None:
        """Have every other node carry out `command` (never this one: the caller does its
        own share itself)."""

    def watch(self, topic: Topic, on_ready: Ready) -> bool:
        """Receive `topic`'s messages from now on, until as many `unwatch`es. True: they
        flow already; False: `on_ready` runs (in another greenlet, must not block) once
        they do, or once the bus is found down. Never blocks."""
        return True

    def unwatch(self, topic: Topic) -> None:
        """One watcher of `topic` less; the last one's leaving ends the subscription."""
        return None

    @abstractmethod
    def stop(self) -> None: ...

    @property
    def healthy(self) -> bool:
        """False while the adapter cannot reach the other nodes (the node is then not ready)."""
        return True

    # -- for the bus adapters --

    def _published_everywhere(self, broadcasts: list[RemoteBroadcast]) -> bool:
        """The bus took `broadcasts`: counted per app. True, for `publish_everywhere`."""
        for app_id, count in Counter(b.app_id for b in broadcasts).items():
            metrics.ADAPTER_PUBLISHED.labels(app_id).inc(count)
        return True

    def _refused_everywhere(self, error: Exception) -> bool:
        """The bus refused a `publish_everywhere`: logged at the first and every 1000th (a bus
        that is away refuses every request). False, for `publish_everywhere`."""
        self._unordered += 1
        if self._unordered == 1 or self._unordered % 1000 == 0:
            log.warning(
                "%s refused %d ordered publishes: %r", self.bus_name, self._unordered, error
            )
        return False

    def _received(self, data: bytes) -> None:
        """A message from the bus, to `deliver` unless this node published it (only its
        loopback broadcasts come back to it). Malformed ones are dropped and logged at the
        first and every 1000th: a peer of another version must not flood the log."""
        try:
            origin, received = decode(data)
        except MalformedMessage:
            self._malformed += 1
            if self._malformed == 1 or self._malformed % 1000 == 0:
                log.warning("ignored %d malformed messages on %s", self._malformed, self.bus_name)
            return
        if origin != self.node_id or (isinstance(received, RemoteBroadcast) and received.loopback):
            metrics.ADAPTER_RECEIVED.labels(received.app_id).inc()
            assert self._deliver is not None
            self._deliver(received)
