"""The adapters' metrics, scraped from real nodes sharing a real Redis or NATS: broadcasts
published and received, and reconnects after the bus restarts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.bus import Bus
from tests.support.client import PusherClient, sdk
from tests.support.metrics import other_free_port, scrape, scrape_until, value
from tests.support.nodes import wait_ready
from tests.support.server import APP_ID, ServerProcess

pytestmark = pytest.mark.timeout(90)

PUBLISHED = "socketrush_adapter_published_total"
RECEIVED = "socketrush_adapter_received_total"
RECONNECTS = "socketrush_adapter_reconnects_total"


class MeteredNode(ServerProcess):
    """A node on `bus` with its metrics port in `metrics_port`."""

    metrics_port: int = 0

    @classmethod
    def on(cls, bus: Bus) -> MeteredNode:
        node = cls()
        node.metrics_port = other_free_port(node.port)
        node.args = [
            *bus.node_args("metered"),
            *("--metrics-enabled", "true", "--metrics-port", str(node.metrics_port)),
        ]
        return node


@pytest.fixture
def two_nodes(restartable_bus: Bus) -> Iterator[list[MeteredNode]]:
    nodes = [MeteredNode.on(restartable_bus).start() for _ in range(2)]
    try:
        for node in nodes:
            wait_ready(node)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def test_each_broadcast_is_counted_once_where_published_and_once_where_received(
    two_nodes: list[MeteredNode],
) -> None:
    publisher, receiver = two_nodes
    client = PusherClient.connect(receiver)
    try:
        client.subscribe("news")
        client.recv_event("pusher_internal:subscription_succeeded")
        for number in range(3):
            assert sdk(publisher).trigger("news", "headline", f"story {number}") == {}
            assert client.recv()["data"] == f"story {number}"
    finally:
        client.close()
    sent, got = scrape(publisher.metrics_port), scrape(receiver.metrics_port)
    assert value(sent, PUBLISHED, app_id=APP_ID) == 3
    assert value(sent, RECEIVED, app_id=APP_ID) is None  # its own broadcasts come back, ignored
    assert value(got, RECEIVED, app_id=APP_ID) == 3
    assert value(got, PUBLISHED, app_id=APP_ID) is None
    assert value(sent, RECONNECTS) == value(got, RECONNECTS) == 0


def test_a_restart_of_the_bus_is_one_reconnect_per_node(
    restartable_bus: Bus, two_nodes: list[MeteredNode]
) -> None:
    restartable_bus.stop()
    restartable_bus.start()
    for node in two_nodes:
        samples = scrape_until(node.metrics_port, RECONNECTS, 1, timeout=30)
        assert value(samples, RECONNECTS) == 1
    publisher, receiver = two_nodes
    client = PusherClient.connect(receiver)
    try:
        client.subscribe("news")
        client.recv_event("pusher_internal:subscription_succeeded")
        assert sdk(publisher).trigger("news", "headline", "after the restart") == {}
        assert client.recv()["data"] == "after the restart"
    finally:
        client.close()
    for node in two_nodes:
        assert value(scrape(node.metrics_port), RECONNECTS) == 1
