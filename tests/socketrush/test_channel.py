"""ChannelActor: publishes queued behind each other reach a subscriber in one write; across
nodes, a member event that pub/sub delivers after a joiner's member list already reflected it
reaches only the subscribers it changes something for, and a joiner gets no subscription count
older than the one its own join produced."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pytest

from socketrush import metrics, tally
from socketrush.cache.access import DirectCache
from socketrush.cache.local import LocalCache
from socketrush.channel import (
    _RUN_BYTES,
    Broadcast,
    ChannelActor,
    ChannelSettings,
    Join,
    Leave,
    Member,
    SubscriptionCount,
    member_change,
)
from socketrush.cluster.messages import (
    ChannelCount,
    ClusterLink,
    CountWritten,
    PresenceJoin,
    PresenceJoined,
)
from socketrush.protocol import frames
from socketrush.protocol.channels import classify
from socketrush.protocol.websocket import text_frame

ROOM = "presence-room"


@dataclass
class Socket:
    """A subscriber that records each write as the JSON frames it carried."""

    socket_id: str
    writes: list[list[dict]] = field(default_factory=list)

    def send_frame(self, frame: bytes) -> None:
        carried = []
        while frame:  # unmasked server frames, payloads under 64 KiB
            length, start = frame[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(frame[2:4], "big"), 4
            carried.append(orjson.loads(frame[start : start + length]))
            frame = frame[start + length :]
        self.writes.append(carried)

    @property
    def frames(self) -> list[dict]:
        return [frame for write in self.writes for frame in write]

    def events_per_write(self) -> list[list[str]]:
        return [[f["event"] for f in write] for write in self.writes]

    def events(self) -> list[tuple[str, str]]:
        """(event, user id) of the member events received, in order."""
        return [
            (f["event"].rpartition(":")[2], orjson.loads(f["data"])["user_id"])
            for f in self.frames
            if f["event"].startswith("pusher_internal:member_")
        ]


@dataclass
class Cluster:
    """Stands in for the cluster state actor: records what the channel tells it."""

    told: list[object] = field(default_factory=list)

    def tell(self, message: object) -> bool:
        self.told.append(message)
        return True

    def ask(self, message: object, timeout: float = 5.0) -> object:
        raise AssertionError("a channel never asks the cluster")


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def clustered_channel(cluster: Cluster, name: str, *, counted: bool) -> ChannelActor:
    """A started channel actor on a node that shares state through `cluster`."""
    settings = ChannelSettings(
        app_id="app",
        max_presence_members=100,
        subscription_count_enabled=counted,
        cache=DirectCache(LocalCache()),
        cluster=ClusterLink("app", cluster),
    )
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


def test_member_change_recognises_only_member_events() -> None:
    assert member_change(frames.member_removed(ROOM, "u")).user_id == "u"
    assert member_change(frames.member_added(ROOM, "u", {"a": 1})).added is True
    assert member_change(frames.member_removed(ROOM, "u")).added is False
    assert member_change(frames.event_frame("member_added", ROOM, "{}")) is None


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


def publish(event: str, pad: int = 0) -> bytes:
    return text_frame(orjson.dumps({"event": event, "channel": "news", "data": "x" * pad}))


def local_channel() -> ChannelActor:
    """A channel actor on a single node, not started: what is told queues up meanwhile."""
    settings = ChannelSettings(
        app_id="runs",
        max_presence_members=100,
        subscription_count_enabled=False,
        cache=DirectCache(LocalCache()),
    )
    return ChannelActor(classify("news"), settings, on_empty=lambda _: None)


def test_queued_plain_broadcasts_go_out_as_one_write_per_subscriber() -> None:
    """A run of queued publishes is joined; one excluding another socket starts a new run,
    and a client event (which has a sender) is never joined."""
    channel = local_channel()
    a, b = Socket("1.1"), Socket("2.2")
    for message in [
        Join(a),
        Join(b),
        Broadcast(publish("e1")),
        Broadcast(publish("e2")),
        Broadcast(publish("e3")),
        Broadcast(publish("e4"), except_socket_id="1.1"),
        Broadcast(publish("e5"), except_socket_id="1.1"),
        Broadcast(publish("client-1"), except_socket_id="1.1", sender=a),
        Broadcast(publish("e6")),
        Broadcast(publish("e7")),
    ]:
        channel.tell(message)
    before = metrics.MESSAGES_OUT.labels("runs")._value.get()
    channel.start()
    channel.stop(drain=True)
    assert channel.join(1) is True
    succeeded = ["pusher_internal:subscription_succeeded"]
    assert a.events_per_write() == [succeeded, ["e1", "e2", "e3"], ["e6", "e7"]]
    assert b.events_per_write() == [
        succeeded,
        ["e1", "e2", "e3"],
        ["e4", "e5"],
        ["client-1"],
        ["e6", "e7"],
    ]
    tally.flush_all()
    sent = 2 + 2 * 3 + 2 + 1 + 2 * 2
    assert metrics.MESSAGES_OUT.labels("runs")._value.get() - before == sent


def test_a_joined_write_stays_within_its_byte_bound() -> None:
    channel = local_channel()
    subscriber = Socket("1.1")
    pad = _RUN_BYTES // 3  # two frames fit in the bound, a third does not
    channel.tell(Join(subscriber))
    for number in range(5):
        channel.tell(Broadcast(publish(f"e{number}", pad)))
    channel.start()
    channel.stop(drain=True)
    assert channel.join(1) is True
    assert subscriber.events_per_write()[1:] == [["e0", "e1"], ["e2", "e3"], ["e4"]]
