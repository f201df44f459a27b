"""The NATS adapter: every node publishes each broadcast once on its channel's subject and
delivers what the other nodes publish to its own channel actors.

Subjects are per topic (`adapters/topics.py`, `NatsNames.topic`), and a node subscribes only
to the topics it watches (`Interest`: the bridge subscribes, flushes, then confirms). A
subscribe the bridge could not confirm is asked again a moment later (or once reconnected),
and its watchers keep waiting for that. NATS
keeps one publisher's order per subscriber, and a node receives its own publishes like
anyone's, so a loopback broadcast comes back behind what the others published before it, as
on Redis. nats-py subscribes everything again by itself after a reconnect.

The connection (`NatsBridge`) is shared with the cluster store; publishing never blocks.
"""

from __future__ import annotations

import gevent
from nats.aio.client import Client

from actors.runners import run_soon
from socketrush import metrics
from socketrush.adapters.base import Adapter, Deliver, Ready
from socketrush.adapters.interest import Interest
from socketrush.adapters.messages import Command, NodeMessage, RemoteBroadcast, encode
from socketrush.adapters.topics import Topic, topic_of
from socketrush.nats_bridge import NatsBridge
from socketrush.nats_client import NatsNames, NatsOptions
from socketrush.nats_flush import flush_within

PUBLISH_TIMEOUT_SECONDS = 5.0
ROUTE_RETRY_SECONDS = 1.0  # before failed subscribes are asked again


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
        self._retry: gevent.Greenlet | None = None  # asks failed subscribes again, soon

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

    def _routed(self, done: list[str], failed: list[str]) -> None:
        for subject in failed:
            self._interest.failed(subject)
        for subject in done:
            for ready in self._interest.answered(subject):
                ready()
        if failed:
            metrics.ADAPTER_TOPICS.set(len(self._interest))
            if self._retry is None:
                self._retry = gevent.spawn_later(ROUTE_RETRY_SECONDS, self._ask_again)

    def _ask_again(self) -> None:
        """Failed subscribes are asked again without waiting for other watches (a quiet
        node would stay deaf on them), but not at once (a subject NATS refuses would go
        round in a loop). While disconnected, the reconnect asks them."""
        self._retry = None
        if self.bridge.connected:
            self._schedule()

    def _connection(self, connected: bool) -> None:
        """nats-py subscribes everything again by itself after a reconnect (counted here),
        and what failed meanwhile is asked again; until then nobody waits for a topic."""
        if not connected:
            for ready in self._interest.connection_lost(forget=False):
                ready()
            return
        self._connections += 1
        if self._connections > 1:
            metrics.ADAPTER_RESUBSCRIBED.inc(len(self._interest.wanted()))
        self._interest.connected = True
        self._schedule()

    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        loopback: bool = False,
        event_id: str | None = None,
    ) -> None:
        broadcast = RemoteBroadcast(app_id, channel, payload, except_socket_id, loopback, event_id)
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
            await flush_within(client, PUBLISH_TIMEOUT_SECONDS)

        try:
            self.bridge.call(publish, PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:  # NatsUnavailable, or nats-py's own errors
            return self._refused_everywhere(error)
        return self._published_everywhere(broadcasts)

    def send(self, command: Command) -> None:
        self._send(self.names.topic(topic_of(command)), command)

    def stop(self) -> None:
        if self._retry is not None:
            self._retry.kill(block=False)
        self.bridge.stop()

    def _send(self, subject: str, message: NodeMessage) -> None:
        self.bridge.publish(subject, encode(self.node_id, message))
        metrics.ADAPTER_PUBLISHED.labels(message.app_id).inc()

    def _on_subject(self, _subject: str, data: bytes) -> None:
        self._received(data)
