"""Publish order across nodes (docs/deployment.md, "Delivery guarantees"), on Redis and on
NATS: an acknowledged HTTP event reaches every subscriber, on every node, before any event on
its channel triggered after the acknowledgment, through any node; one client's client events
stay in the order it sent them, on every node."""

from __future__ import annotations

import pytest

from tests.support.bus import Bus
from tests.support.client import PusherClient, sdk, subscribe_signed
from tests.support.metrics import scrape, value
from tests.support.nodes import is_ready, wait_ready
from tests.support.polling import wait_until
from tests.support.server import APP_ID, ServerProcess

pytestmark = pytest.mark.timeout(180)

TRIGGERS = 500


def subscribed(nodes: list[ServerProcess], channel: str) -> list[PusherClient]:
    """One subscriber to `channel` on each node."""
    clients = []
    for node in nodes:
        client = PusherClient.connect(node)
        if channel.startswith("private-"):
            subscribe_signed(node, client, channel)
        else:
            client.subscribe(channel)
        client.recv_event("pusher_internal:subscription_succeeded")
        clients.append(client)
    return clients


def inversions(numbers: list[int]) -> int:
    """Events received after one with a higher number."""
    highest, count = -1, 0
    for number in numbers:
        if number < highest:
            count += 1
        highest = max(highest, number)
    return count


def test_acknowledged_triggers_alternating_between_nodes_arrive_in_order(
    bus: Bus, nodes_on
) -> None:
    """Each trigger is sent once the previous one was answered, through the next node: the
    subscriber on the node that takes a trigger must not get it before the previous one,
    which another node published."""
    nodes = nodes_on(bus, 3)
    apis = [sdk(node) for node in nodes]
    clients = subscribed(nodes, "ordered")
    try:
        for number in range(TRIGGERS):
            assert apis[number % len(apis)].trigger("ordered", "seq", number) == {}
        for client in clients:
            received = [client.recv_event("seq")["data"] for _ in range(TRIGGERS)]
            assert inversions(received) == 0
            assert received == list(range(TRIGGERS))  # and none lost or twice
            client.assert_silent()
    finally:
        for client in clients:
            client.close()


def test_one_clients_client_events_keep_their_order_on_every_node(bus: Bus, nodes_on) -> None:
    nodes = nodes_on(bus, 3)
    sender, *receivers = subscribed(nodes, "private-chat")
    nearby = subscribed(nodes[:1], "private-chat")[0]  # on the sender's node
    try:
        for number in range(TRIGGERS):
            sender.send("client-seq", number, channel="private-chat")
        for client in [nearby, *receivers]:
            received = [client.recv_event("client-seq")["data"] for _ in range(TRIGGERS)]
            assert received == list(range(TRIGGERS))
        sender.assert_silent()  # a client event is never echoed to its sender
    finally:
        for client in [sender, nearby, *receivers]:
            client.close()


def test_with_the_bus_away_a_trigger_is_delivered_here_and_counted(
    restartable_bus: Bus, nodes_on
) -> None:
    """No bus to order it: the node's own subscribers get the event at once, the trigger is
    answered as usual, and the node counts it as published without the guarantee."""
    (node,) = nodes_on(restartable_bus, 1, metered=True)
    (client,) = subscribed([node], "news")
    try:
        restartable_bus.stop()
        wait_until(lambda: not is_ready(node), 15, lambda: "still ready without its bus")
        assert sdk(node).trigger("news", "alone", "here") == {}
        assert client.recv_event("alone")["data"] == "here"
        samples = scrape(node.metrics_port)
        assert value(samples, "socketrush_adapter_unordered_total", app_id=APP_ID) == 1
        restartable_bus.start()
        wait_ready(node, 30)
        assert sdk(node).trigger("news", "ordered", "again") == {}
        assert client.recv_event("ordered")["data"] == "again"
        samples = scrape(node.metrics_port)
        assert value(samples, "socketrush_adapter_unordered_total", app_id=APP_ID) == 1
        client.assert_silent()
    finally:
        client.close()


def test_an_acknowledged_trigger_is_its_cache_channels_last_event(bus: Bus, nodes_on) -> None:
    """The bus brings the event back like another node's, which no node caches: the request
    stores it itself (the node's own memory cache here), so a later subscriber gets it."""
    (node,) = nodes_on(bus, 1)
    assert sdk(node).trigger("cache-prices", "tick", {"n": 1}) == {}
    assert sdk(node).trigger("cache-prices", "tick", {"n": 2}) == {}
    client = PusherClient.connect(node)
    try:
        client.subscribe("cache-prices")
        assert client.recv()["event"] == "pusher_internal:subscription_succeeded"
        assert client.recv() == {"event": "tick", "channel": "cache-prices", "data": {"n": 2}}
        client.subscribe("cache-empty")
        assert client.recv()["event"] == "pusher_internal:subscription_succeeded"
        assert client.recv() == {"event": "pusher:cache_miss", "channel": "cache-empty", "data": {}}
        client.assert_silent()
    finally:
        client.close()
