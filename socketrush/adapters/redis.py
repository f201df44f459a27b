"""The Redis adapter: each broadcast and command is published once on its topic's pub/sub
channel (`topics.py`), and a node subscribes only to the topics it needs (`Interest`).

Publishing happens in a small actor made for blocking I/O, so the app actor that hands it a
broadcast never waits for Redis. Listening is `RedisSubscriber`'s job (one greenlet owns the
pub/sub connections). With Redis Cluster the topics are sharded channels (SPUBLISH/SSUBSCRIBE)
on the shard of their slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from actors import Actor, MailboxFull, Supervisor
from socketrush import metrics
from socketrush.adapters.base import Adapter, Deliver, Ready
from socketrush.adapters.interest import Interest
from socketrush.adapters.messages import Command, NodeMessage, RemoteBroadcast, encode
from socketrush.adapters.redis_subscriber import RedisSubscriber
from socketrush.adapters.topics import Topic, channel_topic, topic_of
from socketrush.redis_client import RedisKeys

log = logging.getLogger(__name__)


class NotSubscribed(Exception):
    """Why an ordered publish is refused while the node's subscription is away."""


MAX_PENDING_PUBLISHES = 100_000
REDIS_ERRORS = (redis.RedisError, RedisClusterException)

ClientFactory = Callable[[], "redis.Redis | RedisCluster"]


def _publisher_of(client: redis.Redis | RedisCluster) -> Callable[[str, bytes], object]:
    """SPUBLISH on Redis Cluster (the topic's shard only), PUBLISH on a standalone Redis."""
    return client.spublish if isinstance(client, RedisCluster) else client.publish


class RedisPublisher(Actor):
    """Sends PUBLISH commands one after another; a failure costs that message only. (Named
    for the `actor` label of the restart metric.)"""

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        keys: RedisKeys,
        node_id: str,
        supervisor: Supervisor | None = None,
    ) -> None:
        super().__init__(
            mailbox_size=MAX_PENDING_PUBLISHES, name="redis-publisher", supervisor=supervisor
        )
        self._publish = _publisher_of(client)
        self._keys = keys
        self._node_id = node_id
        self.failures = 0

    def receive(self, message: object) -> None:
        assert isinstance(message, NodeMessage)
        try:
            self._publish(self._keys.topic(topic_of(message)), encode(self._node_id, message))
        except REDIS_ERRORS as error:
            self.failures += 1
            if self.failures == 1 or self.failures % 1000 == 0:
                log.warning("redis publish failed (%d so far): %s", self.failures, error)
        else:
            metrics.ADAPTER_PUBLISHED.labels(message.app_id).inc()


class RedisAdapter(Adapter):
    """Cross-node fan-out over one Redis pub/sub channel per topic."""

    bus_name = "Redis"

    def __init__(
        self, client_factory: ClientFactory, keys: RedisKeys, supervisor: Supervisor | None = None
    ) -> None:
        """`supervisor` settles the publisher actor's crashes (None: restart, uncounted)."""
        super().__init__()
        self._client_factory = client_factory
        self._keys = keys
        self._supervisor = supervisor
        self._interest = Interest()
        self._publisher: RedisPublisher | None = None
        self._subscriber: RedisSubscriber | None = None
        self._requests_client: redis.Redis | RedisCluster | None = None  # for HTTP requests

    @property
    def healthy(self) -> bool:
        """Subscribed to Redis, every topic this node needs included."""
        return self._subscriber is not None and self._subscriber.synced

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._publisher = RedisPublisher(
            self._client_factory(), self._keys, self.node_id, self._supervisor
        ).start()
        self._requests_client = self._client_factory()
        self._subscriber = RedisSubscriber(self._client_factory(), self._interest, self._received)
        self._subscriber.start()

    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        loopback: bool = False,
        event_id: str | None = None,
    ) -> None:
        """A loopback broadcast comes back through the subscription: pub/sub keeps the
        order in which Redis received the publishes, whichever node sent them."""
        if self._publisher is None:
            return
        broadcast = RemoteBroadcast(app_id, channel, payload, except_socket_id, loopback, event_id)
        try:
            self._publisher.tell(broadcast)
        except MailboxFull:
            log.warning("redis publisher backlog full: dropped a broadcast on %s", channel)

    ordered = True

    def publish_everywhere(self, broadcasts: list[RemoteBroadcast]) -> bool:
        """Answered by Redis once every subscriber's connection has them queued (PUBLISH:
        one server; SPUBLISH: the one shard of the channel's slot), so nothing a node
        publishes after this returns can overtake them on any node's subscription."""
        client = self._requests_client
        if client is None:
            return False
        if not self.healthy:
            # Until this node has subscribed again, what it publishes does not come back to
            # it: an acknowledged event would reach none of its own subscribers (the fault
            # run found this window after Redis returned). Delivered here instead.
            return self._refused_everywhere(NotSubscribed("not subscribed to Redis yet"))
        topics = [self._keys.topic(channel_topic(b.app_id, b.channel)) for b in broadcasts]
        messages = [encode(self.node_id, broadcast) for broadcast in broadcasts]
        try:
            if isinstance(client, RedisCluster):
                for topic, message in zip(topics, messages, strict=True):
                    client.spublish(topic, message)
            else:
                pipeline = client.pipeline(transaction=False)
                for topic, message in zip(topics, messages, strict=True):
                    pipeline.publish(topic, message)
                pipeline.execute()
        except REDIS_ERRORS as error:
            return self._refused_everywhere(error)
        return self._published_everywhere(broadcasts)

    def send(self, command: Command) -> None:
        if self._publisher is None:
            return
        try:
            self._publisher.tell(command)
        except MailboxFull:
            log.warning("redis publisher backlog full: dropped a %s", type(command).__name__)

    def watch(self, topic: Topic, on_ready: Ready) -> bool:
        ready = self._interest.watch(self._keys.topic(topic), on_ready)
        if self._subscriber is not None:
            self._subscriber.wake()
        return ready

    def unwatch(self, topic: Topic) -> None:
        self._interest.unwatch(self._keys.topic(topic))
        if self._subscriber is not None:
            self._subscriber.wake()

    def stop(self) -> None:
        if self._subscriber is not None:
            self._subscriber.stop()
        if self._publisher is not None:
            self._publisher.stop(drain=True)
            self._publisher.join(2.0)
