"""Recovery: a count journaled during an outage is answered at once and announced after it;
a node the others reaped comes back and announces what they announced gone."""

from __future__ import annotations

import os
import signal
import uuid

from socketrush.cluster.messages import AppSnapshot, ChannelCount, CountWritten
from socketrush.cluster.recovery import Recovery
from socketrush.cluster.redis_store import RedisStore
from socketrush.cluster.writes import Writer
from socketrush.redis_client import RedisKeys
from tests.support.bus import Bus
from tests.support.client import PusherClient, sdk
from tests.support.cluster import ROOM, Channel, Host, Log, eventually, join, webhooks_to
from tests.support.redis import RedisServer
from tests.support.webhook_receiver import Receiver


def test_a_journaled_count_is_answered_once_and_announced_after_the_outage(
    redis_server: RedisServer,
) -> None:
    log = Log()
    host, channel = Host(log), Channel(log)
    client = redis_server.client(decode_responses=True)
    keys = RedisKeys(f"test-{uuid.uuid4().hex[:8]}")
    store = RedisStore(client, keys)
    recovery = Recovery(store, Writer(store, "n1", host), host)
    recovery.stale = True  # a write failed
    recovery.journal(ChannelCount("app", "news", 1, True, 7, channel))
    assert log.entries == [("channel", CountWritten(7, None))]
    host.snapshots = [AppSnapshot("app", 0, {"news": 1}, {})]
    assert recovery.recover() is True
    version = log.entries[-1][-1]
    assert log.entries == [
        ("channel", CountWritten(7, None)),
        ("notify", "app", {"name": "channel_occupied", "channel": "news"}),
        ("count", "app", "news", 1, version),
    ]
    assert recovery.stale is False


NODE_TIMEOUT = "2"  # seconds: beats every 0.5 s, a silent node is reaped within 2.5 s
REAP_WITHIN = 10  # seconds any wait below is bounded by


def webhook_events(receiver: Receiver) -> list[tuple]:
    """Every webhook event so far, in arrival order, as sorted (key, value) tuples."""
    return [tuple(sorted(e.items())) for r in receiver.received for e in r.events]


def count(channel: str, n: int) -> dict:
    return {
        "event": "pusher_internal:subscription_count",
        "channel": channel,
        "data": {"subscription_count": n},
    }


def test_a_reaped_node_that_comes_back_announces_itself_again(bus: Bus, nodes_on) -> None:
    with Receiver() as receiver:
        doomed, survivor = nodes_on(
            bus,
            2,
            "--node-timeout-seconds",
            NODE_TIMEOUT,
            "--app-subscription-count-enabled",
            "true",
            *webhooks_to(receiver),
            "--webhook-member-removed-delay-ms",
            "0",
            *(
                flag
                for kind in (
                    "channel-occupied",
                    "channel-vacated",
                    "member-added",
                    "member-removed",
                )
                for flag in (f"--app-has-{kind}-webhooks", "true")
            ),
        )
        alice, _ = join(doomed, "alice")
        bob, presence = join(survivor, "bob")
        assert presence["count"] == 2
        assert alice.recv_event("pusher_internal:member_added")["data"]["user_id"] == "bob"
        lonely = PusherClient.connect(doomed)
        lonely.subscribe("lonely")
        lonely.recv_event("pusher_internal:subscription_succeeded")
        assert lonely.recv() == count("lonely", 1)
        watcher = PusherClient.connect(survivor)
        watcher.subscribe("news")
        watcher.recv_event("pusher_internal:subscription_succeeded")
        assert watcher.recv() == count("news", 1)
        reader = PusherClient.connect(doomed)
        reader.subscribe("news")
        reader.recv_event("pusher_internal:subscription_succeeded")
        assert reader.recv() == count("news", 2)
        assert watcher.recv() == count("news", 2)
        before = sorted(
            [
                (("channel", ROOM), ("name", "channel_occupied")),
                (("channel", ROOM), ("name", "member_added"), ("user_id", "alice")),
                (("channel", ROOM), ("name", "member_added"), ("user_id", "bob")),
                (("channel", "lonely"), ("name", "channel_occupied")),
                (("channel", "lonely"), ("name", "subscription_count"), ("subscription_count", 1)),
                (("channel", "news"), ("name", "channel_occupied")),
                (("channel", "news"), ("name", "subscription_count"), ("subscription_count", 1)),
                (("channel", "news"), ("name", "subscription_count"), ("subscription_count", 2)),
            ]
        )
        eventually(lambda: sorted(webhook_events(receiver)), before)

        os.kill(doomed.process.pid, signal.SIGSTOP)
        try:
            # The survivor reaps it: its members, channels and subscriptions leave.
            assert bob.recv(timeout=REAP_WITHIN) == {
                "event": "pusher_internal:member_removed",
                "channel": ROOM,
                "data": {"user_id": "alice"},
            }
            assert watcher.recv(timeout=REAP_WITHIN) == count("news", 1)
            reaped = sorted(
                [
                    (("channel", ROOM), ("name", "member_removed"), ("user_id", "alice")),
                    (("channel", "lonely"), ("name", "channel_vacated")),
                    (
                        ("channel", "news"),
                        ("name", "subscription_count"),
                        ("subscription_count", 1),
                    ),
                ]
            )
            eventually(lambda: sorted(webhook_events(receiver)[8:]), reaped, REAP_WITHIN)
            api = sdk(survivor)
            assert api.users_info(ROOM) == {"users": [{"id": "bob"}]}
            assert api.channels_info() == {"channels": {ROOM: {}, "news": {}}}
        finally:
            os.kill(doomed.process.pid, signal.SIGCONT)

        # Back: it finds itself gone from the registry and restores its state with events.
        assert bob.recv(timeout=REAP_WITHIN) == {
            "event": "pusher_internal:member_added",
            "channel": ROOM,
            "data": {"user_id": "alice", "user_info": {"n": "alice"}},
        }
        assert watcher.recv(timeout=REAP_WITHIN) == count("news", 2)
        assert lonely.recv(timeout=REAP_WITHIN) == count("lonely", 1)
        restored = sorted(
            [
                (("channel", ROOM), ("name", "member_added"), ("user_id", "alice")),
                (("channel", "lonely"), ("name", "channel_occupied")),
                (("channel", "lonely"), ("name", "subscription_count"), ("subscription_count", 1)),
                (("channel", "news"), ("name", "subscription_count"), ("subscription_count", 2)),
            ]
        )
        eventually(lambda: sorted(webhook_events(receiver)[11:]), restored, REAP_WITHIN)
        for node in (survivor, doomed):
            api = sdk(node)
            assert sorted(u["id"] for u in api.users_info(ROOM)["users"]) == ["alice", "bob"]
            assert api.channels_info() == {"channels": {ROOM: {}, "lonely": {}, "news": {}}}
            assert api.channel_info("news", ["subscription_count"]) == {
                "occupied": True,
                "subscription_count": 2,
            }
        # Its own reader may still find the reap's smaller count in its pub/sub backlog, but
        # never after the restored one: that one is newer.
        seen = [reader.recv(timeout=REAP_WITHIN)]
        if seen[0] == count("news", 1):
            seen.append(reader.recv(timeout=REAP_WITHIN))
        assert seen[-1] == count("news", 2)
        for client in (bob, watcher, reader, lonely):
            client.assert_silent(0.5)
        assert len(webhook_events(receiver)) == 15
        for client in (alice, bob, lonely, watcher, reader):
            client.close()
        for node in (doomed, survivor):  # while the receiver still takes their last webhooks
            assert node.stop() == 0


def test_a_reaped_node_restores_its_members_after_the_reap_reaches_its_own_subscribers(
    bus: Bus, nodes_on
) -> None:
    """The reap's member_removed reaches the comeback node's own subscribers over the bus,
    behind whatever else was published while it stalled; the restore's member_added must
    still come after it, or they end up without the members that are back."""
    doomed, survivor = nodes_on(bus, 2, "--node-timeout-seconds", NODE_TIMEOUT)
    alice, _ = join(doomed, "alice")
    carol, presence = join(doomed, "carol")
    assert sorted(presence["ids"]) == ["alice", "carol"]
    assert alice.recv_event("pusher_internal:member_added")["data"]["user_id"] == "carol"
    bob, presence = join(survivor, "bob")
    assert presence["count"] == 3
    for client in (alice, carol):
        assert client.recv_event("pusher_internal:member_added")["data"]["user_id"] == "bob"

    os.kill(doomed.process.pid, signal.SIGSTOP)
    try:
        # A busy cluster meanwhile: megabytes of other broadcasts queue up for the stalled
        # node ahead of the reap's events.
        bus.flood(nodes_on.prefix, "busy", b"x" * 10_000, 500)
        removed = {bob.recv(timeout=REAP_WITHIN)["data"]["user_id"] for _ in range(2)}
        assert removed == {"alice", "carol"}
    finally:
        os.kill(doomed.process.pid, signal.SIGCONT)

    added = {bob.recv(timeout=REAP_WITHIN)["data"]["user_id"] for _ in range(2)}
    assert added == {"alice", "carol"}
    # Carol hears both leave (the reap) and both come back (the restore), in that order.
    heard = [carol.recv(timeout=REAP_WITHIN) for _ in range(4)]
    events = [(f["event"].removeprefix("pusher_internal:"), f["data"]["user_id"]) for f in heard]
    assert sorted(events[:2]) == [("member_removed", "alice"), ("member_removed", "carol")]
    assert sorted(events[2:]) == [("member_added", "alice"), ("member_added", "carol")]
    sdk(doomed).trigger(ROOM, "after", "all")  # nothing else was on its way to carol
    assert carol.recv() == {"event": "after", "channel": ROOM, "data": "all"}
