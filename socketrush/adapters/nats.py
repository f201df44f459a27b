"""The NATS adapter: every node publishes each broadcast once on its channel's subject and
delivers what the other nodes publish to its own channel actors.

Subjects are per topic (`adapters/topics.py`, `NatsNames.topic`), and a node subscribes only
to the topics it watches (`Interest`: the bridge subscribes, flushes, then confirms). NATS
keeps one publisher's order per subscriber, and a node receives its own publishes like
anyone's, so a loopback broadcast comes back behind what the others published before it, as
on Redis. nats-py subscribes everything again by itself after a reconnect.

The connection (`NatsBridge`) is shared with the cluster store; publishing never blocks.
"""

from __future__ import annotations

from nats.aio.client import Client

from actors.runners import run_soon
from socketrush import metrics
from socketrush.adapters.base import Adapter, Deliver, Ready
from socketrush.adapters.interest import Interest
from socketrush.adapters.messages import Command, NodeMessage, RemoteBroadcast, encode
from socketrush.adapters.topics import Topic, topic_of
from socketrush.nats_bridge import NatsBridge
from socketrush.nats_client import NatsNames, NatsOptions

PUBLISH_TIMEOUT_SECONDS = 5.0


class NatsAdapter(Adapter):
    """Cross-node fan-out over NATS subjects; `bridge` is also the cluster store's."""

    bus_name = "NATS"

    def __init__(self, options: NatsOptions, names: NatsNames) -> None:
        super().__init__()
        self.names = names
        self.bridge = NatsBridge(options, name=f"socketrush-{self.node_id[:8]}")
        self.bridge.on_connection(self._connection)
        self._interest = Interest()
        self._asking = False  # a turn of `_ask` is scheduled
        self._connections = 0  # made so far; every one after the first is a reconnect

    @property
    def healthy(self) -> bool:
        return self.bridge.connected

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self.bridge.start()

    def watch(self, topic: Topic, on_ready: Ready) -> bool:
        ready = self._interest.watch(self.names.topic(topic), on_ready)
        self._schedule()
        return ready

    def unwatch(self, topic: Topic) -> None:
        self._interest.unwatch(self.names.topic(topic))
        self._schedule()

    def _schedule(self) -> None:
        """One request to the bridge for the watches and unwatches of this turn."""
        if not self._asking:
            self._asking = True
            run_soon(self._ask)

    def _ask(self) -> None:
        self._asking = False
        subscribe, unsubscribe = self._interest.requests()
        if subscribe or unsubscribe:
            self.bridge.route(subscribe, unsubscribe, self._on_subject, self._routed)
            metrics.ADAPTER_TOPICS.set(len(self._interest))

    def _routed(self, subjects: list[str]) -> None:
        for subject in subjects:
            for ready in self._interest.answered(subject):
                ready()

    def _connection(self, connected: bool) -> None:
        """nats-py subscribes everything again by itself after a reconnect (counted here);
        meanwhile nobody waits for a topic."""
        if not connected:
            for ready in self._interest.connection_lost(forget=False):
                ready()
            return
        self._connections += 1
        if self._connections > 1:
            metrics.ADAPTER_RESUBSCRIBED.inc(len(self._interest.wanted()))
        self._interest.connected = True

    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        loopback: bool = False,
    ) -> None:
        broadcast = RemoteBroadcast(app_id, channel, payload, except_socket_id, loopback)
        self._send(self.names.channel(app_id, channel), broadcast)

    ordered = True

    def publish_everywhere(self, broadcasts: list[RemoteBroadcast]) -> bool:
        """Published then flushed: the server answers the flush's PING after it handed the
        messages to every subscriber's connection (one nats-server; see docs/deployment.md
        for a cluster of servers)."""
        messages = [
            (self.names.channel(b.app_id, b.channel), encode(self.node_id, b)) for b in broadcasts
        ]

        async def publish(client: Client) -> None:
            for subject, data in messages:
                await client.publish(subject, data)
            await client.flush(PUBLISH_TIMEOUT_SECONDS)

        try:
            self.bridge.call(publish, PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:  # NatsUnavailable, or nats-py's own errors
            return self._refused_everywhere(error)
        return self._published_everywhere(broadcasts)

    def send(self, command: Command) -> None:
        self._send(self.names.topic(topic_of(command)), command)

    def stop(self) -> None:
        self.bridge.stop()

    def _send(self, subject: str, message: NodeMessage) -> None:
        self.bridge.publish(subject, encode(self.node_id, message))
        metrics.ADAPTER_PUBLISHED.labels(message.app_id).inc()

    def _on_subject(self, _subject: str, data: bytes) -> None:
        self._received(data)
