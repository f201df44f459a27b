"""The Redis adapter's interest routing, in this process on real Redis servers: a node hears
only the topics it watches (pub/sub on a standalone Redis, sharded pub/sub on Redis Cluster,
each topic on the shard of its slot), a watcher waits for Redis' confirmation, the last one
leaving unsubscribes, and a restart subscribes everything again."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator

import gevent
import pytest
import redis
from gevent.event import Event
from redis.cluster import RedisCluster as ClusterClient

from socketrush import metrics
from socketrush.adapters.messages import (
    NodeMessage,
    RemoteBroadcast,
    TerminateUserConnections,
    encode,
)
from socketrush.adapters.redis import RedisAdapter
from socketrush.adapters.topics import Topic, TopicKind, channel_topic, topic_of
from socketrush.redis_client import RedisKeys
from tests.support.polling import wait_until
from tests.support.redis import RedisCluster, RedisServer

pytestmark = pytest.mark.timeout(60)

NEWS = channel_topic("1", "news")
SPORT = channel_topic("1", "sport")


class Node:
    """One adapter and what it delivered."""

    def __init__(self, adapter: RedisAdapter, keys: RedisKeys) -> None:
        self.adapter = adapter
        self.keys = keys
        self.delivered: list[NodeMessage] = []
        adapter.start(self.delivered.append)
        wait_until(lambda: adapter.healthy, 10, lambda: "never subscribed", gevent.sleep)

    def watch(self, topic: Topic) -> None:
        """Watch and wait for Redis' confirmation (a new topic is never ready at once)."""
        ready = Event()
        assert self.adapter.watch(topic, ready.set) is False
        assert ready.wait(5), f"{topic} was never confirmed"

    def received(self, count: int) -> list[NodeMessage]:
        wait_until(
            lambda: len(self.delivered) >= count,
            5,
            lambda: f"only {self.delivered}",
            gevent.sleep,
        )
        return self.delivered


Bus = Callable[[], Node]


def broadcast(channel: str, payload: bytes = b"{}") -> RemoteBroadcast:
    return RemoteBroadcast("1", channel, payload, None)


@pytest.fixture(params=["standalone", "cluster"])
def bus(request) -> Iterator[tuple[Bus, Callable[[NodeMessage], None], redis.Redis]]:
    """(a node factory, publish as another node, a client) on a standalone Redis or Cluster."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    keys = RedisKeys(prefix)
    if request.param == "standalone":
        server: RedisServer = request.getfixturevalue("redis_server")

        def client() -> redis.Redis:
            return redis.Redis.from_url(server.url)

        publish_raw = client().publish
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")

        def client() -> ClusterClient:
            return ClusterClient.from_url(cluster.url)

        publish_raw = client().spublish
    nodes: list[Node] = []

    def node() -> Node:
        nodes.append(Node(RedisAdapter(client, keys), keys))
        return nodes[-1]

    def publish(message: NodeMessage) -> None:
        publish_raw(keys.topic(topic_of(message)), encode("elsewhere", message))

    yield node, publish, client()
    for each in nodes:
        each.adapter.stop()


def test_a_node_hears_only_the_topics_it_watches(bus) -> None:
    node, publish, _ = bus
    listener = node()
    listener.watch(NEWS)
    listener.watch(Topic(TopicKind.USER, "1", "carol"))
    publish(broadcast("sport"))  # nobody here watches it
    publish(broadcast("news", b"first"))
    publish(TerminateUserConnections("1", "dave"))  # nor this user
    publish(TerminateUserConnections("1", "carol"))
    publish(broadcast("#server-to-user-carol", b"hi carol"))  # a user's events: their topic
    assert listener.received(3) == [
        broadcast("news", b"first"),
        TerminateUserConnections("1", "carol"),
        broadcast("#server-to-user-carol", b"hi carol"),
    ]


def subscribers(client: redis.Redis | ClusterClient, topic: str) -> int:
    """Redis' own count of `topic`'s subscribers (on Cluster, at the shard of its slot)."""
    if isinstance(client, ClusterClient):
        shard = client.get_redis_connection(client.get_node_from_key(topic))
        return int(shard.execute_command("PUBSUB", "SHARDNUMSUB", topic)[1])
    return int(client.execute_command("PUBSUB", "NUMSUB", topic)[1])


def test_the_last_watcher_leaving_ends_the_subscription(bus) -> None:
    node, publish, client = bus
    listener = node()
    listener.watch(NEWS)
    assert listener.adapter.watch(NEWS, lambda: None) is True  # active: no wait
    listener.watch(SPORT)
    listener.adapter.unwatch(NEWS)
    publish(broadcast("news", b"still"))
    listener.received(1)
    listener.adapter.unwatch(NEWS)
    news = listener.keys.topic(NEWS)
    wait_until(lambda: subscribers(client, news) == 0, 5, lambda: "still subscribed", gevent.sleep)
    assert not listener.adapter._interest.asked_for(news)
    publish(broadcast("news", b"gone"))
    publish(broadcast("sport", b"after"))  # Redis keeps one connection's order
    assert listener.received(2) == [broadcast("news", b"still"), broadcast("sport", b"after")]
    assert len(listener.adapter._interest) == 1
    assert metrics.ADAPTER_TOPICS._value.get() == 1  # this process's one adapter: SPORT


def test_a_restart_of_redis_subscribes_everything_again_and_is_counted() -> None:
    with RedisServer() as server:
        keys = RedisKeys("x")
        adapter = RedisAdapter(lambda: redis.Redis.from_url(server.url), keys)
        listener = Node(adapter, keys)
        try:
            listener.watch(NEWS)
            listener.watch(SPORT)
            reconnects = metrics.ADAPTER_RECONNECTS._value.get()
            resubscribed = metrics.ADAPTER_RESUBSCRIBED._value.get()
            server.stop()
            wait_until(lambda: not adapter.healthy, 10, lambda: "still healthy", gevent.sleep)
            released = Event()
            weather = channel_topic("1", "weather")
            assert adapter.watch(weather, released.set) is True  # Redis is down: no wait
            server.start()
            wait_until(lambda: adapter.healthy, 15, lambda: "never back", gevent.sleep)
            wait_until(
                lambda: all(adapter._interest.settled(keys.topic(t)) for t in (NEWS, SPORT)),
                5,
                lambda: "not subscribed again",
                gevent.sleep,
            )
            message = encode("elsewhere", broadcast("weather", b"sunny"))
            wait_until(  # its subscription is confirmed too, with no one waiting for it
                lambda: adapter._interest.settled(keys.topic(weather)), 5, str, gevent.sleep
            )
            server.client().publish(keys.topic(weather), message)
            assert listener.received(1) == [broadcast("weather", b"sunny")]
            assert metrics.ADAPTER_RECONNECTS._value.get() == reconnects + 1
            assert metrics.ADAPTER_RESUBSCRIBED._value.get() == resubscribed + 3
        finally:
            adapter.stop()


def test_an_unexpected_error_in_the_subscriber_subscribes_everything_again(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the subscriber's loop (not a Redis error) once left a node deaf for good."""
    keys = RedisKeys(f"t{uuid.uuid4().hex[:8]}")
    adapter = RedisAdapter(lambda: redis.Redis.from_url(redis_server.url), keys)
    listener = Node(adapter, keys)
    try:
        listener.watch(NEWS)
        subscriber = adapter._subscriber
        assert subscriber is not None
        reconnects = metrics.ADAPTER_RECONNECTS._value.get()
        ask = subscriber._ask
        failures = ["once"]

        def failing_ask() -> None:
            if failures:
                failures.pop()
                raise KeyError("a bookkeeping bug")
            ask()

        monkeypatch.setattr(subscriber, "_ask", failing_ask)
        adapter.watch(SPORT, lambda: None)  # wakes the loop, whose next _ask fails
        wait_until(
            lambda: metrics.ADAPTER_RECONNECTS._value.get() == reconnects + 1,
            15,
            lambda: "never connected again",
            gevent.sleep,
        )
        wait_until(
            lambda: all(adapter._interest.settled(keys.topic(t)) for t in (NEWS, SPORT)),
            5,
            lambda: "not subscribed again",
            gevent.sleep,
        )
        client = redis.Redis.from_url(redis_server.url)
        client.publish(keys.topic(NEWS), encode("elsewhere", broadcast("news", b"again")))
        assert listener.received(1) == [broadcast("news", b"again")]
    finally:
        adapter.stop()


def test_a_malformed_message_is_dropped_logged_once_and_the_next_one_delivered(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer of another version must neither crash the subscriber nor flood the log."""
    keys = RedisKeys(f"t{uuid.uuid4().hex[:8]}")
    adapter = RedisAdapter(lambda: redis.Redis.from_url(redis_server.url), keys)
    listener = Node(adapter, keys)
    client = redis.Redis.from_url(redis_server.url)
    try:
        listener.watch(NEWS)
        with caplog.at_level(logging.WARNING, logger="socketrush.adapters"):
            client.publish(keys.topic(NEWS), b"not json")
            client.publish(keys.topic(NEWS), b'{"k": "b"}')  # JSON, but not one of ours
            client.publish(keys.topic(NEWS), encode("elsewhere", broadcast("news", b"fine")))
            assert listener.received(1) == [broadcast("news", b"fine")]
        assert [record.getMessage() for record in caplog.records] == [
            "ignored 1 malformed messages on Redis"
        ]
        assert adapter._malformed == 2
    finally:
        client.close()
        adapter.stop()


def shard_subscribers(cluster: RedisCluster, topic: str) -> dict[int, int]:
    """Master port -> subscribers of the sharded channel `topic` there."""
    counts = {}
    for master in cluster.nodes:
        reply = master.client().execute_command("PUBSUB", "SHARDNUMSUB", topic)
        counts[master.port] = int(reply[1])
    return counts


def test_on_cluster_each_topic_is_subscribed_on_its_own_shard(redis_cluster) -> None:
    keys = RedisKeys(f"t{uuid.uuid4().hex[:8]}")
    adapter = RedisAdapter(lambda: ClusterClient.from_url(redis_cluster.url), keys)
    listener = Node(adapter, keys)
    try:
        topics = [channel_topic("1", f"room-{number}") for number in range(12)]
        for topic in topics:
            listener.watch(topic)
        owners = set()
        client = ClusterClient.from_url(redis_cluster.url)
        for topic in topics:
            counts = shard_subscribers(redis_cluster, keys.topic(topic))
            owner = client.get_node_from_key(keys.topic(topic)).port
            assert counts == {port: int(port == owner) for port in counts}
            owners.add(owner)
        assert len(owners) == 3  # twelve topics land on every shard
    finally:
        adapter.stop()


def test_on_cluster_a_topic_follows_its_slot_to_another_master() -> None:
    """Cluster ends a sharded subscription when its slot moves: the adapter subscribes
    again where the slot lives now, and the topic's messages keep coming."""
    with RedisCluster() as cluster:
        keys = RedisKeys("moving")
        client = ClusterClient.from_url(cluster.url)
        adapter = RedisAdapter(lambda: ClusterClient.from_url(cluster.url), keys)
        listener = Node(adapter, keys)
        try:
            listener.watch(NEWS)
            topic = keys.topic(NEWS)
            slot = client.keyslot(topic)
            source = client.get_node_from_key(topic)
            target = next(n for n in client.get_primaries() if n.port != source.port)
            ids = {
                node.port: node.client().execute_command("CLUSTER", "MYID").decode()
                for node in cluster.nodes
            }
            for node in cluster.nodes:  # an empty slot: ownership changes, nothing to migrate
                node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target.port])
            wait_until(
                lambda: shard_subscribers(cluster, topic)[target.port] == 1,
                10,
                lambda: f"still {shard_subscribers(cluster, topic)}",
                gevent.sleep,
            )
            client.nodes_manager.initialize()
            client.spublish(topic, encode("elsewhere", broadcast("news", b"moved")))
            assert listener.received(1) == [broadcast("news", b"moved")]
        finally:
            adapter.stop()
