"""Nodes sharing a bus behave as one server for delivery: every test runs on Redis and on NATS."""

from __future__ import annotations

from tests.support.bus import Bus
from tests.support.client import PusherClient, sdk, subscribe_signed
from tests.support.nodes import assert_cross_node_delivery, is_ready, wait_ready
from tests.support.polling import wait_until


def test_delivers_across_three_nodes(bus: Bus, nodes_on) -> None:
    assert_cross_node_delivery(nodes_on(bus, 3))


def test_exclusion_and_client_events_cross_nodes(bus: Bus, nodes_on) -> None:
    first, second = nodes_on(bus, 2)
    alice, bob = PusherClient.connect(first), PusherClient.connect(second)
    try:
        for server, client in ((first, alice), (second, bob)):
            subscribe_signed(server, client, "private-room")
            client.recv_event("pusher_internal:subscription_succeeded")
        alice.send("client-typing", {"who": "alice"}, channel="private-room")
        assert bob.recv() == {
            "event": "client-typing",
            "channel": "private-room",
            "data": {"who": "alice"},
        }
        # Excluding alice's socket through the other node still excludes her.
        sdk(second).trigger("private-room", "note", "not for alice", socket_id=alice.socket_id)
        assert bob.recv()["data"] == "not for alice"
        sdk(first).trigger("private-room", "note", "for both")
        assert alice.recv()["data"] == "for both"
        assert bob.recv()["data"] == "for both"
    finally:
        alice.close()
        bob.close()


def test_nodes_survive_a_restart_of_the_bus(restartable_bus: Bus, nodes_on) -> None:
    first, second = nodes_on(restartable_bus, 2)
    local = PusherClient.connect(first)
    remote = PusherClient.connect(second)
    try:
        for client in (local, remote):
            client.subscribe("news")
            client.recv_event("pusher_internal:subscription_succeeded")
        restartable_bus.stop()
        # During the outage, local delivery goes on.
        assert sdk(first).trigger("news", "local", "still here") == {}
        assert local.recv()["data"] == "still here"
        wait_until(lambda: not is_ready(first), 10, lambda: "the node never noticed the bus go")
        restartable_bus.start()
        # Acknowledged before the node subscribed again: still delivered on it.
        assert sdk(first).trigger("news", "early", "before resubscribing") == {}
        assert local.recv()["data"] == "before resubscribing"
        wait_ready(first)
        wait_ready(second)
        assert sdk(first).trigger("news", "back", "across again") == {}
        assert local.recv()["data"] == "across again"
        assert remote.recv_event("back")["data"] == "across again"
    finally:
        local.close()
        remote.close()
