"""The dashboard across two nodes sharing a real Redis or NATS: figures are cluster-wide, and a
page open on one node sees the debug records of the other."""

from __future__ import annotations

import pytest
import websocket

from tests.support.bus import Bus
from tests.support.client import PusherClient, subscribe_signed
from tests.support.dashboard import DASHBOARD, api, debug_listener, login
from tests.support.polling import wait_until
from tests.support.server import APP_ID, ServerProcess

FIGURES_SECONDS = 25.0  # nodes share figures every 10 s; two rounds and some slack


@pytest.fixture
def nodes(bus: Bus, nodes_on) -> list[ServerProcess]:
    return nodes_on(bus, 2, *DASHBOARD)


def connected_record_for(listener: PusherClient, other: ServerProcess) -> bool:
    """Connect on `other`; True once the page on the first node is told of it."""
    probe = PusherClient.connect(other)
    try:
        while True:
            frame = listener.recv_event("log", timeout=0.5)
            if frame["data"].get("socket_id") == probe.socket_id:
                return frame["data"]["type"] == "connected"
    except websocket.WebSocketTimeoutException:
        return False  # the other node had not heard of the page yet
    finally:
        probe.close()


def test_a_page_on_one_node_sees_the_other_node_s_records(nodes: list[ServerProcess]) -> None:
    first, second = nodes
    listener = debug_listener(first, login(first))
    wait_until(
        lambda: connected_record_for(listener, second),
        10.0,
        lambda: "no record of a connection on the second node reached the first node's page",
    )
    listener.close()


def test_figures_are_cluster_wide(nodes: list[ServerProcess]) -> None:
    first, second = nodes
    session = login(first)
    clients = []
    for node, user in ((first, "alice"), (second, "bob"), (second, "carol")):
        client = PusherClient.connect(node)
        subscribe_signed(node, client, "presence-room", {"user_id": user})
        client.recv_event("pusher_internal:subscription_succeeded")
        clients.append(client)

    def figures() -> dict:
        app = api(first, session, "/apps")[1]["apps"][0]
        return {key: app[key] for key in ("id", "connections", "channels", "presence_members")}

    expected = {"id": APP_ID, "connections": 3, "channels": 1, "presence_members": 3}
    wait_until(lambda: figures() == expected, FIGURES_SECONDS, lambda: f"{figures()}")
    assert api(first, session, f"/apps/{APP_ID}/channels/presence-room/users") == (
        200,
        {"users": [{"id": "alice"}, {"id": "bob"}, {"id": "carol"}]},
    )
    for client in clients:
        client.close()
