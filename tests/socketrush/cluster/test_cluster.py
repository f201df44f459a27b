"""Nodes sharing one Redis or one NATS answer as one server: presence, queries, limits, dead
nodes. Every test but the Redis Cluster one runs on both buses."""

from __future__ import annotations

import signal
import time

from tests.support.bus import Bus
from tests.support.client import PusherClient, expect_close, sdk, subscribe_signed
from tests.support.cluster import ROOM, eventually, join, settle, webhooks_to
from tests.support.server import ServerProcess
from tests.support.webhook_receiver import Receiver


def test_presence_members_and_events_span_three_nodes(bus: Bus, nodes_on) -> None:
    first, second, third = nodes_on(bus, 3)
    alice, presence = join(first, "alice")
    assert presence == {"ids": ["alice"], "hash": {"alice": {"n": "alice"}}, "count": 1}
    settle(first, [second, third])
    bob, presence = join(second, "bob")
    assert sorted(presence["ids"]) == ["alice", "bob"]
    assert presence["count"] == 2
    assert presence["hash"] == {"alice": {"n": "alice"}, "bob": {"n": "bob"}}
    assert alice.recv() == {
        "event": "pusher_internal:member_added",
        "channel": ROOM,
        "data": {"user_id": "bob", "user_info": {"n": "bob"}},
    }
    # A second socket of alice, on a third node: no new member anywhere.
    alice_again, presence = join(third, "alice")
    assert presence["count"] == 2
    bob.assert_silent()
    alice.close()  # alice still has a socket on the third node
    bob.assert_silent()
    alice_again.close()  # her last socket anywhere
    assert bob.recv() == {
        "event": "pusher_internal:member_removed",
        "channel": ROOM,
        "data": {"user_id": "alice"},
    }
    bob.close()


def test_every_node_answers_queries_for_the_whole_cluster(bus: Bus, nodes_on) -> None:
    nodes = nodes_on(bus, 3)
    clients = [join(node, f"user-{i}")[0] for i, node in enumerate(nodes)]
    extra = PusherClient.connect(nodes[0])
    subscribe_signed(nodes[0], extra, ROOM, {"user_id": "user-1"})
    extra.recv_event("pusher_internal:subscription_succeeded")
    for node in nodes:
        news = PusherClient.connect(node)
        news.subscribe("news")
        news.recv_event("pusher_internal:subscription_succeeded")
        clients.append(news)
    clients.append(extra)
    for node in nodes:
        api = sdk(node)
        eventually(lambda api=api: api.channels_info(), {"channels": {ROOM: {}, "news": {}}})
        eventually(
            lambda api=api: api.channels_info(prefix_filter="presence-", attributes=["user_count"]),
            {"channels": {ROOM: {"user_count": 3}}},
        )
        eventually(
            lambda api=api: api.channel_info(ROOM, ["user_count", "subscription_count"]),
            {"occupied": True, "user_count": 3, "subscription_count": 4},
        )
        eventually(
            lambda api=api: api.channel_info("news", ["subscription_count"]),
            {"occupied": True, "subscription_count": 3},
        )
        eventually(
            lambda api=api: sorted(u["id"] for u in api.users_info(ROOM)["users"]),
            ["user-0", "user-1", "user-2"],
        )
    for client in clients:
        client.close()
    for node in nodes:
        eventually(lambda node=node: sdk(node).channels_info(), {"channels": {}})


def test_presence_member_limit_is_cluster_wide(bus: Bus, nodes_on) -> None:
    first, second = nodes_on(bus, 2, "--app-max-presence-members-per-channel", "1")
    alice, _ = join(first, "alice")
    bob = PusherClient.connect(second)
    subscribe_signed(second, bob, ROOM, {"user_id": "bob"})
    refusal = bob.recv()
    assert refusal["event"] == "pusher:subscription_error"
    assert refusal["channel"] == ROOM
    # The same user on another node is no new member: allowed.
    alice_again, presence = join(second, "alice")
    assert presence["ids"] == ["alice"]
    # Refused, bob is no subscriber: his client event reaches no one on any node (the channel
    # is open on his node, for alice_again), and he is told.
    bob.send("client-hello", {"from": "bob"}, channel=ROOM)
    assert bob.recv() == {
        "event": "pusher:error",
        "data": {"code": None, "message": f"Not subscribed to channel {ROOM}"},
    }
    sdk(second).trigger(ROOM, "marker", {"n": 1})
    for client in (alice, alice_again):
        assert client.recv() == {"event": "marker", "channel": ROOM, "data": {"n": 1}}
    for client in (alice, bob, alice_again):
        client.close()


def test_connection_quota_is_exact_across_nodes(bus: Bus, nodes_on) -> None:
    first, second = nodes_on(bus, 2, "--app-max-connections", "3")
    # Alternate nodes with no pause: a count learned by heartbeat would admit all four.
    held = [PusherClient.connect(node) for node in (first, second, first)]
    refused = PusherClient(second.ws_url())
    error, code = expect_close(refused)
    assert (error["data"]["code"], code) == (4004, 4004)
    held.pop().close()
    # The freed place is known cluster-wide once the node has counted the disconnect.
    eventually(lambda: connects(second), True)
    for client in held:
        client.close()


def connects(node: ServerProcess) -> bool:
    """Whether a new connection to `node` is admitted (it is closed again either way)."""
    client = PusherClient(node.ws_url())
    try:
        return client.recv()["event"] == "pusher:connection_established"
    finally:
        client.close()


def test_terminate_connections_reaches_every_node(bus: Bus, nodes_on) -> None:
    from tests.support.client import sign_in

    first, second = nodes_on(bus, 2)
    clients = []
    for node in (first, second):
        client = PusherClient.connect(node)
        sign_in(node, client, {"id": "carol"})
        client.recv_event("pusher:signin_success")
        clients.append(client)
    sdk(first).terminate_user_connections("carol")
    for client in clients:
        error, code = expect_close(client)
        assert error["event"] == "pusher:error"
        assert code == 4009


def test_send_to_user_reaches_its_sockets_on_every_node(bus: Bus, nodes_on) -> None:
    from tests.support.client import assert_alive, sign_in

    nodes = nodes_on(bus, 3)
    sockets = []
    for node, user in ((nodes[0], "dave"), (nodes[1], "dave"), (nodes[1], "erin")):
        client = PusherClient.connect(node)
        sign_in(node, client, {"id": user})
        client.recv_event("pusher:signin_success")
        sockets.append(client)
    phone, laptop, stranger = sockets
    assert sdk(nodes[2]).send_to_user("dave", "notice", {"text": "hi"}) == {}
    expected = {"event": "notice", "channel": "#server-to-user-dave", "data": {"text": "hi"}}
    assert phone.recv() == expected
    assert laptop.recv() == expected
    assert_alive(stranger)  # nothing for erin was queued ahead of her pong
    for client in sockets:
        client.close()


def test_subscription_count_is_cluster_wide(bus: Bus, nodes_on) -> None:
    def count(n: int) -> dict:
        return {
            "event": "pusher_internal:subscription_count",
            "channel": "counted",
            "data": {"subscription_count": n},
        }

    with Receiver() as receiver:
        first, second = nodes_on(
            bus,
            2,
            "--app-subscription-count-enabled",
            "true",
            *webhooks_to(receiver),
        )
        clients = []
        for node, total in ((first, 1), (second, 2), (first, 3)):
            client = PusherClient.connect(node)
            client.subscribe("counted")
            assert client.recv()["event"] == "pusher_internal:subscription_succeeded"
            clients.append(client)
            # The joiner too gets no count older than the one its join produced, although
            # the previous total may still be on its way to the joiner's node.
            for subscriber in clients:
                assert subscriber.recv() == count(total)
        on_first, on_second, again_on_first = clients
        on_second.close()
        assert on_first.recv() == count(2)
        assert again_on_first.recv() == count(2)
        webhooks = receiver.wait_for(4)
        # one webhook per change, from the node where it happened, with the cluster's total
        events = sorted(
            (e["name"], e["channel"], e["subscription_count"]) for r in webhooks for e in r.events
        )
        assert events == [("subscription_count", "counted", n) for n in (1, 2, 2, 3)]
        on_first.close()
        assert again_on_first.recv() == count(1)
        again_on_first.close()
        for node in (first, second):  # while the receiver still takes their last webhooks
            assert node.stop() == 0


def test_a_stopped_node_removes_its_members_at_once(bus: Bus, nodes_on) -> None:
    with Receiver() as receiver:
        leaving, survivor = nodes_on(
            bus,
            2,
            "--node-timeout-seconds",
            "60",  # reaping a silent node cannot be what removes alice
            *webhooks_to(receiver),
            "--app-has-member-removed-webhooks",
            "true",
            "--app-has-channel-vacated-webhooks",
            "true",
            "--webhook-member-removed-delay-ms",
            "0",
        )
        alice, _ = join(leaving, "alice")
        settle(leaving, [survivor])
        bob, _ = join(survivor, "bob")
        lonely = PusherClient.connect(leaving)
        lonely.subscribe("lonely")
        lonely.recv_event("pusher_internal:subscription_succeeded")
        stopped_at = time.monotonic()
        assert leaving.stop(signal.SIGTERM) == 0
        assert bob.recv(timeout=10) == {
            "event": "pusher_internal:member_removed",
            "channel": ROOM,
            "data": {"user_id": "alice"},
        }
        assert time.monotonic() - stopped_at < 10
        received = receiver.wait_for(3)  # the first: settle()'s probe channel vacated
        events = sorted(tuple(sorted(e.items())) for r in received for e in r.events)
        assert events == [
            (("channel", "lonely"), ("name", "channel_vacated")),
            (("channel", ROOM), ("name", "member_removed"), ("user_id", "alice")),
            (("channel", "probe"), ("name", "channel_vacated")),
        ]
        api = sdk(survivor)
        assert api.users_info(ROOM) == {"users": [{"id": "bob"}]}
        assert api.channels_info() == {"channels": {ROOM: {}}}
        # Nothing of the stopped node is left for a reaper: only the survivor holds state.
        assert len(bus.nodes_with_state(nodes_on.prefix)) == 1
        bob.close()
        assert survivor.stop() == 0  # while the receiver still takes its last webhooks


NODE_TIMEOUT = 3  # seconds; --node-timeout-seconds, default 10


def kill_and_see_alice_removed(doomed, bob: PusherClient) -> None:
    """SIGKILL `doomed` (alice's node): bob gets member_removed within the node timeout plus
    one heartbeat."""
    killed_at = time.monotonic()
    doomed.stop(signal.SIGKILL)
    assert bob.recv(timeout=20) == {
        "event": "pusher_internal:member_removed",
        "channel": ROOM,
        "data": {"user_id": "alice"},
    }
    assert time.monotonic() - killed_at < NODE_TIMEOUT * 1.25 + 2


def test_a_killed_node_is_reaped_with_member_removed(bus: Bus, nodes_on) -> None:
    doomed, survivor = nodes_on(bus, 2, "--node-timeout-seconds", str(NODE_TIMEOUT))
    alice, _ = join(doomed, "alice")
    settle(doomed, [survivor])
    bob, presence = join(survivor, "bob")
    assert presence["count"] == 2
    watcher = PusherClient.connect(survivor)
    watcher.subscribe("news")
    watcher.recv_event("pusher_internal:subscription_succeeded")
    only_doomed = PusherClient.connect(doomed)
    only_doomed.subscribe("lonely")
    only_doomed.recv_event("pusher_internal:subscription_succeeded")
    eventually(lambda: "lonely" in sdk(survivor).channels_info()["channels"], True)
    kill_and_see_alice_removed(doomed, bob)
    api = sdk(survivor)
    assert [u["id"] for u in api.users_info(ROOM)["users"]] == ["bob"]
    assert api.channel_info(ROOM, ["user_count"]) == {"occupied": True, "user_count": 1}
    assert api.channels_info() == {"channels": {ROOM: {}, "news": {}}}
    for client in (bob, watcher):
        client.close()


def test_a_killed_nodes_subscriptions_leave_the_count(bus: Bus, nodes_on) -> None:
    with Receiver() as receiver:
        doomed, survivor = nodes_on(
            bus,
            2,
            "--node-timeout-seconds",
            str(NODE_TIMEOUT),
            "--app-subscription-count-enabled",
            "true",
            *webhooks_to(receiver),
        )
        watcher = PusherClient.connect(survivor)
        watcher.subscribe("counted")
        watcher.recv_event("pusher_internal:subscription_succeeded")
        assert watcher.recv()["data"] == {"subscription_count": 1}
        gone = PusherClient.connect(doomed)
        gone.subscribe("counted")
        gone.recv_event("pusher_internal:subscription_succeeded")
        assert watcher.recv()["data"] == {"subscription_count": 2}
        receiver.wait_for(2)  # the webhooks of those two changes
        doomed.stop(signal.SIGKILL)
        assert watcher.recv(timeout=20) == {
            "event": "pusher_internal:subscription_count",
            "channel": "counted",
            "data": {"subscription_count": 1},
        }
        events = [e for r in receiver.wait_for(3) for e in r.events]
        assert events[-1] == {
            "name": "subscription_count",
            "channel": "counted",
            "subscription_count": 1,
        }
        watcher.close()


def test_occupied_and_vacated_webhooks_once_per_cluster_transition(bus: Bus, nodes_on) -> None:
    with Receiver() as receiver:
        first, second = nodes_on(
            bus,
            2,
            *webhooks_to(receiver),
            "--app-has-channel-occupied-webhooks",
            "true",
            "--app-has-channel-vacated-webhooks",
            "true",
        )
        clients = []
        for node in (first, second, first):
            client = PusherClient.connect(node)
            client.subscribe("news")
            client.recv_event("pusher_internal:subscription_succeeded")
            clients.append(client)
        for client in clients:
            client.close()
        got = receiver.wait_for(2)
        eventually(lambda: sdk(second).channels_info(), {"channels": {}})
        names = [(e["name"], e["channel"]) for r in receiver.received for e in r.events]
        assert names == [("channel_occupied", "news"), ("channel_vacated", "news")]
        assert len(got) == 2


def test_shared_state_on_a_redis_cluster(redis_cluster, nodes_on) -> None:
    """The scripts touch one app's keys only (one hash slot), so they run on Redis Cluster."""
    doomed, survivor = nodes_on(
        redis_cluster.url,
        2,
        "--redis-cluster",
        "true",
        "--node-timeout-seconds",
        str(NODE_TIMEOUT),
    )
    alice, _ = join(doomed, "alice")
    bob, presence = join(survivor, "bob")
    assert sorted(presence["ids"]) == ["alice", "bob"]
    assert alice.recv() == {
        "event": "pusher_internal:member_added",
        "channel": ROOM,
        "data": {"user_id": "bob", "user_info": {"n": "bob"}},
    }
    carol, _ = join(doomed, "carol")
    carol.close()
    assert bob.recv_event("pusher_internal:member_removed") == {
        "event": "pusher_internal:member_removed",
        "channel": ROOM,
        "data": {"user_id": "carol"},
    }
    lonely = PusherClient.connect(doomed)
    lonely.subscribe("lonely")
    lonely.recv_event("pusher_internal:subscription_succeeded")
    for node in (doomed, survivor):
        api = sdk(node)
        eventually(lambda api=api: api.channels_info(), {"channels": {ROOM: {}, "lonely": {}}})
        eventually(
            lambda api=api: sorted(u["id"] for u in api.users_info(ROOM)["users"]),
            ["alice", "bob"],
        )
    kill_and_see_alice_removed(doomed, bob)
    api = sdk(survivor)
    assert api.users_info(ROOM) == {"users": [{"id": "bob"}]}
    assert api.channels_info() == {"channels": {ROOM: {}}}
    bob.close()
