"""ClusteredMembership: across nodes, a member event that pub/sub delivers after a joiner's
member list already reflected it reaches only the subscribers it changes something for, a
joiner gets no subscription count older than the one its own join produced, and a channel that
crashed tells the cluster its members and subscribers are gone."""

from __future__ import annotations

import orjson
import pytest

from socketrush.channels import (
    Broadcast,
    ChannelActor,
    Join,
    Leave,
    Member,
    SubscriptionCount,
    member_change,
)
from socketrush.cluster.messages import (
    ChannelCount,
    CountWritten,
    PresenceJoin,
    PresenceJoined,
    PresenceLeave,
)
from socketrush.protocol import frames
from socketrush.protocol.channels import classify
from socketrush.protocol.errors import Err
from socketrush.protocol.websocket import text_frame
from tests.support.channels import Cluster, Socket, channel_settings

ROOM = "presence-room"


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def clustered_channel(cluster: Cluster, name: str, *, counted: bool) -> ChannelActor:
    """A started channel actor on a node that shares state through `cluster`."""
    settings = channel_settings(cluster=cluster, counted=counted)
    return ChannelActor(classify(name), settings, on_empty=lambda _: None).start()


@pytest.fixture
def channel(cluster: Cluster):
    actor = clustered_channel(cluster, ROOM, counted=False)
    yield actor
    actor.stop()


def join(channel: ChannelActor, cluster: Cluster, socket: Socket, members: list[str]) -> None:
    """Join as `socket.socket_id`'s user; the cluster answers with `members` as the list."""
    channel.ask(Join(socket, Member(socket.socket_id, {})))
    asked = cluster.told[-1]
    assert isinstance(asked, PresenceJoin) and asked.user_id == socket.socket_id
    channel.ask(PresenceJoined(asked.token, {uid: {} for uid in members}))
    assert socket.frames[0]["event"] == "pusher_internal:subscription_succeeded"


def arrives(channel: ChannelActor, payload: bytes, except_socket_id: str | None = None) -> None:
    """A member event reaches the channel as the app hands it over."""
    channel.ask(Broadcast(text_frame(payload), except_socket_id, member=member_change(payload)))


def test_late_member_events_reach_only_subscribers_they_change(
    channel: ChannelActor, cluster: Cluster
) -> None:
    alice, carol = Socket("alice"), Socket("carol")
    join(channel, cluster, alice, ["alice", "dave"])
    # Meanwhile, elsewhere: bob joined and dave left; both events are still in flight.
    join(channel, cluster, carol, ["alice", "bob", "carol"])
    arrives(channel, frames.member_added(ROOM, "carol", {}), except_socket_id="carol")
    arrives(channel, frames.member_added(ROOM, "bob", {}))
    arrives(channel, frames.member_removed(ROOM, "dave"))
    arrives(channel, frames.member_added(ROOM, "erin", {}))
    arrives(channel, frames.member_removed(ROOM, "bob"))
    assert alice.events() == [
        ("member_added", "carol"),
        ("member_added", "bob"),
        ("member_removed", "dave"),
        ("member_added", "erin"),
        ("member_removed", "bob"),
    ]
    # carol's list had bob and lacked dave: those two events would repeat or contradict it.
    assert carol.events() == [("member_added", "erin"), ("member_removed", "bob")]


def test_events_already_in_the_first_list_reach_no_one(
    channel: ChannelActor, cluster: Cluster
) -> None:
    alice = Socket("alice")
    join(channel, cluster, alice, ["alice", "bob"])
    arrives(channel, frames.member_added(ROOM, "bob", {}))
    arrives(channel, frames.member_removed(ROOM, "gone"))
    arrives(channel, frames.member_removed(ROOM, "bob"))
    assert alice.events() == [("member_removed", "bob")]


def test_a_subscriber_that_left_is_forgotten(channel: ChannelActor, cluster: Cluster) -> None:
    alice, carol = Socket("alice"), Socket("carol")
    join(channel, cluster, alice, ["alice"])
    join(channel, cluster, carol, ["alice", "bob", "carol"])
    channel.ask(Leave(carol))
    arrives(channel, frames.member_added(ROOM, "bob", {}))
    assert alice.events() == [("member_added", "bob")]
    arrives(channel, frames.member_added(ROOM, "carol", {}), except_socket_id="carol")
    assert alice.events() == [("member_added", "bob"), ("member_added", "carol")]


COUNTED = "counted"


@pytest.fixture
def counted(cluster: Cluster):
    """A channel whose app counts subscriptions, on a node that shares state."""
    actor = clustered_channel(cluster, COUNTED, counted=True)
    yield actor
    actor.stop()


def subscribe(channel: ChannelActor, cluster: Cluster, socket: Socket) -> object:
    """Subscribe `socket`; returns what the channel told the cluster about it."""
    channel.ask(Join(socket))
    assert socket.frames == [
        {"event": "pusher_internal:subscription_succeeded", "channel": COUNTED, "data": "{}"}
    ]
    socket.writes.clear()
    return cluster.told[-1]


def counts(socket: Socket) -> list[int]:
    return [orjson.loads(f["data"])["subscription_count"] for f in socket.frames]


def test_a_join_asks_for_its_counts_version_and_a_leave_does_not(
    counted: ChannelActor, cluster: Cluster
) -> None:
    alice, bob = Socket("alice"), Socket("bob")
    assert subscribe(counted, cluster, alice) == ChannelCount("app", COUNTED, 1, True, 1, counted)
    assert subscribe(counted, cluster, bob) == ChannelCount("app", COUNTED, 2, True, 2, counted)
    counted.ask(Leave(bob))
    assert cluster.told[-1] == ChannelCount("app", COUNTED, 1, True)


def alice_settled_then_bob_joins(counted: ChannelActor, cluster: Cluster) -> tuple[Socket, Socket]:
    """Alice's join is written and its count (1, version 100) sent; then bob joins."""
    alice, bob = Socket("alice"), Socket("bob")
    subscribe(counted, cluster, alice)
    counted.ask(CountWritten(1, 100))
    counted.ask(SubscriptionCount(COUNTED, 1, 100))
    subscribe(counted, cluster, bob)
    return alice, bob


def test_a_joiner_gets_no_count_older_than_its_own_joins(
    counted: ChannelActor, cluster: Cluster
) -> None:
    alice, bob = alice_settled_then_bob_joins(counted, cluster)
    # Announced elsewhere before bob's join was written: it cannot include him.
    counted.ask(SubscriptionCount(COUNTED, 2, 150))
    counted.ask(CountWritten(2, 200))
    counted.ask(SubscriptionCount(COUNTED, 2, 180))  # pub/sub delivered it late
    counted.ask(SubscriptionCount(COUNTED, 3, 200))  # the count bob's join produced
    assert counts(alice) == [1, 2, 3]
    assert counts(bob) == [3]
    assert alice.frames[-1] == {
        "event": "pusher_internal:subscription_count",
        "channel": COUNTED,
        "data": '{"subscription_count":3}',
    }


def test_a_joiner_gets_the_newer_count_that_went_out_while_it_waited(
    counted: ChannelActor, cluster: Cluster
) -> None:
    alice, bob = alice_settled_then_bob_joins(counted, cluster)
    counted.ask(SubscriptionCount(COUNTED, 3, 300))  # a later join elsewhere: bob included
    assert counts(bob) == []
    counted.ask(CountWritten(2, 200))
    counted.ask(SubscriptionCount(COUNTED, 2, 200))  # older than what both have now
    assert counts(alice) == [1, 3]
    assert counts(bob) == [3]


def test_a_joiner_takes_counts_as_they_come_when_none_was_announced_for_it(
    counted: ChannelActor, cluster: Cluster
) -> None:
    alice = Socket("alice")
    subscribe(counted, cluster, alice)
    counted.ask(SubscriptionCount(COUNTED, 4, 50))
    counted.ask(CountWritten(1, None))  # journaled: Redis was unreachable
    counted.ask(SubscriptionCount(COUNTED, 5, 60))
    assert counts(alice) == [5]


def test_a_joiner_that_left_before_its_answer_is_forgotten(
    counted: ChannelActor, cluster: Cluster
) -> None:
    alice, bob = Socket("alice"), Socket("bob")
    subscribe(counted, cluster, alice)
    subscribe(counted, cluster, bob)
    counted.ask(Leave(alice))
    counted.ask(SubscriptionCount(COUNTED, 1, 300))  # includes bob, not alice
    counted.ask(CountWritten(2, 200))
    assert counts(alice) == []
    assert counts(bob) == [1]


def test_a_repeated_join_asks_as_the_member_it_is_and_keeps_the_rest_of_its_join(
    channel: ChannelActor, cluster: Cluster
) -> None:
    """Only the member is swapped for the one the socket already is; the join's other
    fields (silent, welcome) travel to the cluster actor as they came."""
    alice = Socket("alice")
    join(channel, cluster, alice, ["alice"])
    welcome = (text_frame(b'{"event":"hello","data":"{}"}'),)
    again = Join(alice, Member("alice", {"name": "new"}), welcome=welcome)
    channel.ask(again)
    asked = cluster.told[-1]
    assert isinstance(asked, PresenceJoin)
    assert asked.token == Join(alice, Member("alice", {}), welcome=welcome)
    assert (asked.user_id, asked.user_info) == ("alice", {})


def test_a_crashed_channel_tells_the_cluster_its_members_and_waiting_joins_left(
    channel: ChannelActor, cluster: Cluster
) -> None:
    """The cluster actor handles these leaves after the joins it was told before, so the
    member a waiting join wrote to Redis is removed too (its answer finds the channel
    rebuilt and changes nothing: the leave was told already)."""
    alice, bob = Socket("alice"), Socket("bob")
    join(channel, cluster, alice, ["alice"])
    channel.ask(Join(bob, Member("bob", {})))  # the cluster has not answered yet
    asked_for_bob = cluster.told[-1]
    assert isinstance(asked_for_bob, PresenceJoin)
    told_before = len(cluster.told)
    channel.tell("not a channel message")
    channel.ask(PresenceJoined(asked_for_bob.token, {"alice": {}, "bob": {}}))
    assert cluster.told[told_before:] == [
        PresenceLeave("app", ROOM, "alice"),
        PresenceLeave("app", ROOM, "bob"),
        ChannelCount("app", ROOM, 0, False),
    ]
    assert alice.closes == [Err.CHANNEL_RESTARTED] and bob.closes == [Err.CHANNEL_RESTARTED]
    assert bob.frames == []
    assert channel.is_empty


def test_a_late_answer_does_not_undo_the_same_users_join_from_another_socket(
    channel: ChannelActor, cluster: Cluster
) -> None:
    """Bob's first socket leaves while its join is being written; his second socket's join
    is then on its way. The first answer must not tell the cluster bob left: the second
    join has (or will have) written him, and a leave behind it would remove him."""
    first, second = Socket("1.1"), Socket("2.2")
    channel.ask(Join(first, Member("bob", {})))
    first_join = cluster.told[-1]
    channel.ask(Leave(first))
    channel.ask(Join(second, Member("bob", {})))
    second_join = cluster.told[-1]
    told_before = len(cluster.told)
    channel.ask(PresenceJoined(first_join.token, {"bob": {}}))
    assert cluster.told[told_before:] == []
    channel.ask(PresenceJoined(second_join.token, {"bob": {}}))
    assert [f["event"] for f in second.frames] == ["pusher_internal:subscription_succeeded"]
    assert channel.user_ids() == ["bob"]


def test_while_redis_is_unreachable_a_join_is_decided_from_this_nodes_members(
    channel: ChannelActor, cluster: Cluster
) -> None:
    """The cluster actor journals the join and answers without a list: the channel admits
    the joiner from its own roster, and its member_added reaches only who lacks it."""
    alice, bob = Socket("alice"), Socket("bob")
    join(channel, cluster, alice, ["alice"])
    channel.ask(Join(bob, Member("bob", {})))
    channel.ask(PresenceJoined(cluster.told[-1].token, None))
    assert [f["event"] for f in bob.frames] == ["pusher_internal:subscription_succeeded"]
    assert orjson.loads(bob.frames[0]["data"])["presence"]["ids"] == ["alice", "bob"]
    assert alice.events() == [("member_added", "bob")]
    assert cluster.told[-1] == ChannelCount("app", ROOM, 2, False)
    assert channel.user_ids() == ["alice", "bob"]
