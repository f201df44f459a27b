"""The Redis adapter: every node publishes each broadcast once on a Redis channel and delivers
what the other nodes publish to its own channel actors.

Publishing happens in a small actor made for blocking I/O, so the app actor that hands it a
broadcast never waits for Redis; the subscriber runs in its own greenlet and reconnects with
backoff when Redis goes away, while local delivery carries on untouched.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import gevent
import redis

from actors import Actor, MailboxFull, Supervisor
from socketrush import metrics
from socketrush.adapters.base import Adapter, Deliver
from socketrush.adapters.messages import (
    Command,
    MalformedMessage,
    NodeMessage,
    RemoteBroadcast,
    decode,
    encode,
)

log = logging.getLogger(__name__)

MAX_PENDING_PUBLISHES = 100_000
BACKOFF_START_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0

ClientFactory = Callable[[], "redis.Redis"]


class RedisPublisher(Actor):
    """Sends PUBLISH commands one after another; a failure costs that message only. (Named
    for the `actor` label of the restart metric.)"""

    def __init__(
        self,
        client: redis.Redis,
        channel: str,
        node_id: str,
        supervisor: Supervisor | None = None,
    ) -> None:
        super().__init__(
            mailbox_size=MAX_PENDING_PUBLISHES, name="redis-publisher", supervisor=supervisor
        )
        self._client = client
        self._channel = channel
        self._node_id = node_id
        self.failures = 0

    def receive(self, message: object) -> None:
        assert isinstance(message, NodeMessage)
        try:
            self._client.publish(self._channel, encode(self._node_id, message))
        except redis.RedisError as error:
            self.failures += 1
            if self.failures == 1 or self.failures % 1000 == 0:
                log.warning("redis publish failed (%d so far): %s", self.failures, error)
        else:
            metrics.ADAPTER_PUBLISHED.labels(message.app_id).inc()


class RedisAdapter(Adapter):
    """Cross-node fan-out over one Redis pub/sub channel per deployment (the prefix)."""

    def __init__(
        self, client_factory: ClientFactory, channel: str, supervisor: Supervisor | None = None
    ) -> None:
        """`supervisor` settles the publisher actor's crashes (None: restart, uncounted)."""
        self.node_id = uuid.uuid4().hex
        self._client_factory = client_factory
        self._channel = channel
        self._supervisor = supervisor
        self._publisher: RedisPublisher | None = None
        self._subscriber: gevent.Greenlet | None = None
        self._subscriptions = 0  # confirmed by Redis, the first one included
        self.connected = False

    @property
    def healthy(self) -> bool:
        return self.connected

    def start(self, deliver: Deliver) -> None:
        self._publisher = RedisPublisher(
            self._client_factory(), self._channel, self.node_id, self._supervisor
        ).start()
        self._subscriber = gevent.spawn(self._subscribe_forever, deliver)

    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        loopback: bool = False,
    ) -> None:
        """A loopback broadcast comes back through the subscription: pub/sub keeps the
        order in which Redis received the publishes, whichever node sent them."""
        if self._publisher is None:
            return
        broadcast = RemoteBroadcast(app_id, channel, payload, except_socket_id, loopback)
        try:
            self._publisher.tell(broadcast)
        except MailboxFull:
            log.warning("redis publisher backlog full: dropped a broadcast on %s", channel)

    def send(self, command: Command) -> None:
        if self._publisher is None:
            return
        try:
            self._publisher.tell(command)
        except MailboxFull:
            log.warning("redis publisher backlog full: dropped a %s", type(command).__name__)

    def stop(self) -> None:
        if self._subscriber is not None:
            self._subscriber.kill(block=False)
        if self._publisher is not None:
            self._publisher.stop(drain=True)
            self._publisher.join(2.0)

    def _subscribe_forever(self, deliver: Deliver) -> None:
        backoff = BACKOFF_START_SECONDS
        while True:
            try:
                pubsub = self._client_factory().pubsub()
                pubsub.subscribe(self._channel)
                if not self.connected:
                    log.info("redis adapter subscribed to %s", self._channel)
                self.connected = True
                backoff = BACKOFF_START_SECONDS
                for message in pubsub.listen():
                    if message.get("type") == "subscribe":
                        self._subscription_confirmed()
                    else:
                        self._deliver(message, deliver)
            except redis.RedisError as error:
                if self.connected:
                    log.error("redis adapter lost its subscription: %s; reconnecting", error)
                self.connected = False
                gevent.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    def _subscription_confirmed(self) -> None:
        """Redis confirms every SUBSCRIBE, also the one redis-py sends by itself after it
        reconnected inside `listen()`: every confirmation after the first is a reconnect,
        whichever of the two reconnected."""
        self._subscriptions += 1
        if self._subscriptions > 1:
            metrics.ADAPTER_RECONNECTS.inc()

    def _deliver(self, message: dict, deliver: Deliver) -> None:
        if message.get("type") != "message":
            return
        try:
            origin, received = decode(message["data"])
        except MalformedMessage:
            log.warning("ignored a malformed message on %s", self._channel)
            return
        if origin != self.node_id or (isinstance(received, RemoteBroadcast) and received.loopback):
            metrics.ADAPTER_RECEIVED.labels(received.app_id).inc()
            deliver(received)
