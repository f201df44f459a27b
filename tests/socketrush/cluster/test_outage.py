"""An outage of the bus (Redis, or NATS) loses nothing: state comes back after an empty
restart, and transitions made while it was down are announced (frames and webhooks) once it
answers again. Every test runs on both buses."""

from __future__ import annotations

from tests.support.bus import Bus
from tests.support.client import PusherClient, expect_close, sdk
from tests.support.cluster import ROOM, eventually, join, settle
from tests.support.polling import wait_until
from tests.support.webhook_receiver import Receiver

# Beats every timeout/4: recovery and its settling take a few beats.
FAST_BEATS = ("--node-timeout-seconds", "4")
WEBHOOKS = (
    "--app-webhooks-enabled",
    "true",
    "--webhook-member-removed-delay-ms",
    "0",
    *(
        flag
        for kind in ("channel-occupied", "channel-vacated", "member-added", "member-removed")
        for flag in (f"--app-has-{kind}-webhooks", "true")
    ),
)


def subscribe(node, channel: str) -> PusherClient:
    client = PusherClient.connect(node)
    client.subscribe(channel)
    client.recv_event("pusher_internal:subscription_succeeded")
    return client


def await_beats(bus: Bus, prefix: str, timeout: float = 10.0) -> None:
    """Return once every node has finished a heartbeat that began after this call, so each
    has read what the store held now. A beat writes the node's expiry first: two new
    expiries mean the first of them has finished."""
    seen = {node: {expiry} for node, expiry in bus.heartbeats(prefix).items()}

    def two_more_beats() -> bool:  # another process's timer: there is nothing to await
        for node, expiry in bus.heartbeats(prefix).items():
            seen[node].add(expiry)
        return all(len(expiries) >= 3 for expiries in seen.values())

    wait_until(two_more_beats, timeout, lambda: f"no two beats within {timeout}s: {seen}")


def refused(node) -> None:
    """A connection to `node` is refused as over the app's connection quota."""
    error, code = expect_close(PusherClient(node.ws_url()))
    assert (error["data"]["code"], code) == (4004, 4004)


def test_connection_quota_fails_open_per_node_while_the_bus_is_down(
    restartable_bus: Bus, nodes_on
) -> None:
    first, second = nodes_on(restartable_bus, 2, *FAST_BEATS, "--app-max-connections", "3")
    held = [PusherClient.connect(first), PusherClient.connect(second)]
    eventually(lambda: restartable_bus.connection_total(nodes_on.prefix), 2)
    await_beats(restartable_bus, nodes_on.prefix)  # each node knows the other holds one

    restartable_bus.stop()
    # Each node admits against its own count plus the others' as of its last beat (1 + 1
    # of 3): one more each, so the cluster holds 4, over the limit, rather than refuse all.
    for node in (first, second):
        held.append(PusherClient.connect(node))
        refused(node)
    # Changes the nodes make meanwhile are replayed last in a recovery: once each node's
    # answer shows both markers, both nodes have recovered.
    for client, marker in zip(held[:2], ("marker-0", "marker-1"), strict=True):
        client.subscribe(marker)
        client.recv_event("pusher_internal:subscription_succeeded")

    restartable_bus.start()
    markers = {"channels": {"marker-0": {}, "marker-1": {}}}
    for node in (first, second):
        eventually(lambda node=node: sdk(node).channels_info(), markers, timeout=15)
    assert restartable_bus.connection_total(nodes_on.prefix) == 4
    for node in (first, second):
        refused(node)
    # One leaves on each node: the cluster has exactly one place left again.
    held.pop(0).close()
    held.pop(0).close()
    eventually(lambda: restartable_bus.connection_total(nodes_on.prefix), 2)
    held.append(PusherClient.connect(first))
    for node in (first, second):
        refused(node)
    assert restartable_bus.connection_total(nodes_on.prefix) == 3
    for client in held:
        client.close()


def test_state_is_rebuilt_after_the_bus_restarts_empty(restartable_bus: Bus, nodes_on):
    first, second = nodes_on(restartable_bus, 2, *FAST_BEATS)
    alice, _ = join(first, "alice")
    settle(first, [second])
    bob, _ = join(second, "bob")
    assert alice.recv_event("pusher_internal:member_added")["data"]["user_id"] == "bob"
    readers = [subscribe(first, "news"), subscribe(second, "news"), subscribe(second, "news")]

    def answers(node) -> tuple:
        api = sdk(node)
        return (
            api.channels_info(),
            api.channel_info(ROOM, ["user_count", "subscription_count"]),
            api.channel_info("news", ["subscription_count"]),
            sorted(u["id"] for u in api.users_info(ROOM)["users"]),
        )

    expected = (
        {"channels": {ROOM: {}, "news": {}}},
        {"occupied": True, "user_count": 2, "subscription_count": 2},
        {"occupied": True, "subscription_count": 3},
        ["alice", "bob"],
    )
    for node in (first, second):
        eventually(lambda node=node: answers(node), expected)
    assert restartable_bus.connection_total(nodes_on.prefix) == 5

    restartable_bus.restart_empty()
    for node in (first, second):
        eventually(lambda node=node: answers(node), expected, timeout=15)
    eventually(lambda: restartable_bus.connection_total(nodes_on.prefix), 5)
    # Restoring what the store forgot is no news: nobody hears of a member again.
    alice.assert_silent(1.0)
    bob.assert_silent(0.2)
    for client in (alice, bob, *readers):
        client.close()


def test_transitions_during_an_outage_are_announced_after_it(
    restartable_bus: Bus, nodes_on
) -> None:
    with Receiver() as receiver:
        first, second = nodes_on(
            restartable_bus, 2, *FAST_BEATS, *WEBHOOKS, "--app-webhook-url", receiver.url
        )
        alice, _ = join(first, "alice")
        bob, _ = join(second, "bob")
        assert alice.recv_event("pusher_internal:member_added")["data"]["user_id"] == "bob"
        old = subscribe(second, "old")
        before = receiver.wait_for(4)
        assert sorted((e["name"], e["channel"]) for r in before for e in r.events) == [
            ("channel_occupied", "old"),
            ("channel_occupied", ROOM),
            ("member_added", ROOM),
            ("member_added", ROOM),
        ]

        restartable_bus.stop()
        # Each node decides alone meanwhile: carol joins, bob leaves, old empties, new fills.
        carol, presence = join(first, "carol")
        assert presence == {
            "ids": ["alice", "carol"],  # bob is on the other node: unknown here
            "hash": {"alice": {"n": "alice"}, "carol": {"n": "carol"}},
            "count": 2,
        }
        assert alice.recv()["data"] == {"user_id": "carol", "user_info": {"n": "carol"}}
        bob.close()
        old.close()
        new = subscribe(first, "new")
        eventually(lambda: sdk(second).channels_info(), {"channels": {}})  # answered locally
        assert len(receiver.received) == 4  # nothing could be decided cluster-wide

        restartable_bus.start()
        # alice knew bob: she hears he left. carol never knew him: she hears nothing.
        assert alice.recv(timeout=20) == {
            "event": "pusher_internal:member_removed",
            "channel": ROOM,
            "data": {"user_id": "bob"},
        }
        received = receiver.wait_for(8, timeout=20)
        outage = sorted(
            (e["name"], e["channel"], e.get("user_id")) for r in received[4:] for e in r.events
        )
        assert outage == [
            ("channel_occupied", "new", None),
            ("channel_vacated", "old", None),
            ("member_added", ROOM, "carol"),
            ("member_removed", ROOM, "bob"),
        ]
        carol.assert_silent(0.5)
        alice.assert_silent(0.2)
        assert len(receiver.received) == 8
        api = sdk(second)
        assert api.channels_info() == {"channels": {ROOM: {}, "new": {}}}
        assert sorted(u["id"] for u in api.users_info(ROOM)["users"]) == ["alice", "carol"]
        for client in (alice, carol, new):
            client.close()
        for node in (first, second):  # while the receiver still takes their last webhooks
            assert node.stop() == 0


def test_the_bus_down_at_the_end_is_no_crash(restartable_bus: Bus, nodes_on) -> None:
    """Stopping a node while the bus is down still exits cleanly (deregistering is skipped)."""
    (node,) = nodes_on(restartable_bus, 1, *FAST_BEATS)
    alice, _ = join(node, "alice")
    restartable_bus.stop()
    alice.close()
    assert node.stop() == 0
    assert "Traceback" not in node.log()
