"""Interest routing between real nodes: a node receives a channel's events only while it has
subscribers to that channel (measured by its `socketrush_adapter_received_total`), on Redis,
on Redis Cluster (sharded pub/sub) and on NATS; and subscribing a topic loses nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.bus import Bus
from tests.support.client import PusherClient, sdk
from tests.support.latency import DelayingProxy
from tests.support.metrics import scrape, scrape_until, value
from tests.support.nodes import start_nodes, wait_ready
from tests.support.polling import wait_until
from tests.support.server import APP_ID, ServerProcess

pytestmark = pytest.mark.timeout(120)


RECEIVED = "socketrush_adapter_received_total"
TOPICS = "socketrush_adapter_topics"
RESUBSCRIBED = "socketrush_adapter_resubscribed_total"
EVENTS = 30


def assert_only_the_subscribed_node_receives(nodes: list[ServerProcess]) -> None:
    """One subscriber, on the first node; events published through each of the others."""
    home, *others = nodes
    client = PusherClient.connect(home)
    try:
        client.subscribe("news")
        client.recv_event("pusher_internal:subscription_succeeded")
        for number in range(EVENTS):
            assert sdk(others[number % len(others)]).trigger("news", "tick", number) == {}
        assert [client.recv_event("tick")["data"] for _ in range(EVENTS)] == list(range(EVENTS))
        samples = [scrape(node.metrics_port) for node in nodes]
    finally:
        client.close()
    assert value(samples[0], RECEIVED, app_id=APP_ID) == EVENTS
    assert value(samples[0], TOPICS) == 1
    for elsewhere in samples[1:]:
        assert value(elsewhere, RECEIVED, app_id=APP_ID) in (None, 0.0)
        assert value(elsewhere, TOPICS) == 0


def test_four_nodes_and_one_subscriber_three_receive_nothing(bus: Bus, nodes_on) -> None:
    assert_only_the_subscribed_node_receives(nodes_on(bus, 4, metered=True))


def test_on_redis_cluster_too(redis_cluster, nodes_on) -> None:
    nodes = nodes_on(redis_cluster.url, 4, "--redis-cluster", "true", metered=True)
    assert_only_the_subscribed_node_receives(nodes)


def test_a_node_stops_receiving_once_its_last_subscriber_left(bus: Bus, nodes_on) -> None:
    home, publisher = nodes_on(bus, 2, metered=True)
    client = PusherClient.connect(home)
    client.subscribe("news")
    client.recv_event("pusher_internal:subscription_succeeded")
    assert sdk(publisher).trigger("news", "tick", 1) == {}
    assert client.recv_event("tick")["data"] == 1
    client.send("pusher:unsubscribe", {"channel": "news"})
    watcher = PusherClient.connect(home)  # proves the unsubscribe was handled, and more
    watcher.subscribe("sport")
    watcher.recv_event("pusher_internal:subscription_succeeded")
    for number in range(5):
        assert sdk(publisher).trigger(["news", "sport"], "tick", number) == {}
    assert [watcher.recv_event("tick")["data"] for _ in range(5)] == list(range(5))
    samples = scrape(home.metrics_port)
    assert value(samples, RECEIVED, app_id=APP_ID) == 1 + 5  # sport's five, no news
    assert value(samples, TOPICS) == 1
    client.assert_silent()
    for each in (client, watcher):
        each.close()


@pytest.fixture
def far_node(bus: Bus, nodes_on) -> Iterator[ServerProcess]:
    """A node of `nodes_on`'s deployment that reaches the bus through 50 ms each way."""
    url = bus.server.url
    with DelayingProxy(bus.server.port, 0.05) as proxy:
        near = bus.node_args(nodes_on.prefix)
        args = [a.replace(url, url.replace(str(bus.server.port), str(proxy.port))) for a in near]
        (node,) = start_nodes(args, 1)
        try:
            yield node
        finally:
            node.stop()


def test_no_event_is_lost_between_a_first_subscribe_and_its_topic(
    bus: Bus, nodes_on, far_node: ServerProcess
) -> None:
    """While another node publishes in a tight loop, clients of a node far from the bus each
    subscribe to a channel new to that node: every event triggered after a client got its
    subscription_succeeded arrives, with no gap (the node answered only once the bus had its
    topic; answering at once would lose what was published while its SUBSCRIBE travelled)."""
    (publisher,) = nodes_on(bus, 1)
    channels = [f"room-{number}" for number in range(6)]
    sent: list[tuple[int, float]] = []  # (number, when its trigger began)
    done = threading.Event()

    def publish() -> None:
        api = sdk(publisher)
        while not done.is_set():
            sent.append((len(sent), time.monotonic()))
            api.trigger(channels, "seq", len(sent) - 1)

    publishing = threading.Thread(target=publish)
    publishing.start()
    subscribed: list[tuple[PusherClient, float]] = []
    try:
        for channel in channels:
            client = PusherClient.connect(far_node)
            client.subscribe(channel)
            client.recv_event("pusher_internal:subscription_succeeded")
            subscribed.append((client, time.monotonic()))
            wanted = len(sent) + 5
            wait_until(lambda n=wanted: len(sent) >= n, 10, lambda: "the publisher stalled")
    finally:
        done.set()
        publishing.join(10)
    last = sent[-1][0]
    for client, succeeded_at in subscribed:
        received = []
        while not received or received[-1] != last:
            received.append(client.recv_event("seq", timeout=10)["data"])
        assert received == list(range(received[0], last + 1))  # no gap, nothing twice
        assert received[0] <= min(number for number, at in sent if at > succeeded_at)
        client.close()


def test_a_restart_of_the_bus_subscribes_the_topics_again(restartable_bus: Bus, nodes_on) -> None:
    """The node's one topic is subscribed again after the bus came back (counted once), and
    carries the other node's events again."""
    home, publisher = nodes_on(restartable_bus, 2, metered=True)
    client = PusherClient.connect(home)
    try:
        client.subscribe("news")
        client.recv_event("pusher_internal:subscription_succeeded")
        restartable_bus.stop()
        restartable_bus.start()
        samples = scrape_until(home.metrics_port, RESUBSCRIBED, 1, timeout=30)
        assert value(samples, RESUBSCRIBED) == 1
        for node in (home, publisher):
            wait_ready(node, 30)
        assert sdk(publisher).trigger("news", "tick", "back") == {}
        assert client.recv_event("tick")["data"] == "back"
        assert value(scrape(home.metrics_port), TOPICS) == 1
    finally:
        client.close()
