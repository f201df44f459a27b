"""ChannelActor: publishes queued behind each other reach a subscriber in one write, and a
channel that crashes rebuilds itself empty and releases what it held: its sockets are told to
reconnect (4200) and its members leave, so none stays behind as a ghost."""

from __future__ import annotations

import orjson
import pytest

from socketrush import metrics, tally
from socketrush.channels import (
    Broadcast,
    ChannelActor,
    ChannelStats,
    Join,
    Leave,
    Member,
    Routed,
)
from socketrush.channels.actor import _RUN_BYTES
from socketrush.protocol.channels import classify
from socketrush.protocol.errors import Err
from socketrush.protocol.websocket import text_frame
from socketrush.supervision import HealingSupervisor
from tests.support.channels import Notifier, Socket, channel_settings


def publish(event: str, pad: int = 0) -> bytes:
    return text_frame(orjson.dumps({"event": event, "channel": "news", "data": "x" * pad}))


def local_channel() -> ChannelActor:
    """A channel actor on a single node, not started: what is told queues up meanwhile."""
    return ChannelActor(classify("news"), channel_settings(app_id="runs"), on_empty=lambda _: None)


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


ROOM = "presence-room"
SUCCEEDED = "pusher_internal:subscription_succeeded"


class Empties(list):
    """Records each time the channel reports itself empty (the app's `on_empty`)."""

    def __call__(self, channel: ChannelActor) -> None:
        self.append(channel)


def presence_channel(notifier: Notifier, on_empty=lambda _: None, **kwargs) -> ChannelActor:
    settings = channel_settings(notifier=notifier)
    return ChannelActor(classify(ROOM), settings, on_empty=on_empty, **kwargs)


def joins(socket: Socket) -> Join:
    return Join(socket, Member(socket.socket_id, {"name": socket.socket_id}))


def test_a_crash_in_the_middle_of_a_presence_join_leaves_no_ghost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mallory's subscription_succeeded raises after her member_added went out: the rebuilt
    channel is empty, every socket it held is told to reconnect, and every member leaves."""
    notifier, empties = Notifier(), Empties()
    channel = presence_channel(notifier, empties).start()
    alice, bob = Socket("alice"), Socket("bob")
    mallory = Socket("mallory", fail_on=SUCCEEDED)
    channel.ask(joins(alice))
    channel.ask(joins(bob))
    channel.tell(joins(mallory))  # a tell: what it raises is a crash, not the asker's
    assert channel.ask(Leave(Socket("nobody"))) is None  # handled after the crash

    assert alice.events() == [("member_added", "bob"), ("member_added", "mallory")]
    assert bob.events() == [("member_added", "mallory")]
    assert mallory.frames == []
    for socket in (alice, bob, mallory):
        assert socket.closes == [Err.CHANNEL_RESTARTED]
    assert notifier.names() == [
        ("channel_occupied",),
        ("member_added", "alice"),
        ("member_added", "bob"),
        ("member_added", "mallory"),
        ("member_removed", "alice"),
        ("member_removed", "bob"),
        ("member_removed", "mallory"),
        ("channel_vacated",),
    ]
    assert channel.user_ids() == [] and channel.stats() == ChannelStats(0, 0)
    assert channel.is_empty and empties[-1] is channel  # so the app can retire it
    assert [r.getMessage().partition(";")[0] for r in caplog.records] == [
        "actor channel:presence-room crashed handling Join",
        "channel presence-room released: 3 sockets told to reconnect, 3 members removed",
    ]
    # The rebuilt channel serves the next subscriber from scratch.
    carol = Socket("carol")
    channel.ask(joins(carol))
    assert (
        carol.frames[0]["data"]
        == orjson.dumps(
            {"presence": {"ids": ["carol"], "hash": {"carol": {"name": "carol"}}, "count": 1}}
        ).decode()
    )
    assert notifier.names()[-2:] == [("channel_occupied",), ("member_added", "carol")]
    channel.stop()


def test_a_channel_stopped_while_it_has_subscribers_releases_them() -> None:
    """What a crashed app does to its channels: each releases what it holds as it stops."""
    notifier = Notifier()
    channel = presence_channel(notifier).start()
    alice = Socket("alice")
    channel.ask(joins(alice))
    channel.stop()
    assert channel.join(1) is True
    assert alice.closes == [Err.CHANNEL_RESTARTED]
    assert notifier.names()[-2:] == [("member_removed", "alice"), ("channel_vacated",)]


def test_an_empty_channel_retired_nothing_to_release() -> None:
    notifier = Notifier()
    channel = presence_channel(notifier).start()
    alice = Socket("alice")
    channel.ask(joins(alice))
    channel.ask(Leave(alice))
    events_before = list(notifier.events)
    channel.stop()
    assert channel.join(1) is True
    assert alice.closes == [] and notifier.events == events_before


def test_a_crash_loop_stops_the_channel_and_closes_the_sockets_of_the_joins_it_dropped() -> None:
    """After two restarts within the window the third crash stops the channel: the joins
    queued behind it are never answered, so their sockets are told to reconnect too."""
    stopped: list[object] = []
    supervisor = HealingSupervisor("loop-app", stopped.append, max_restarts=2, within=60)
    channel = presence_channel(Notifier(), supervisor=supervisor)
    alice, bob, carol = Socket("alice"), Socket("bob"), Socket("carol")
    for message in [joins(alice), "boom", "boom", "boom", joins(bob), joins(carol)]:
        channel.tell(message)
    restarts = metrics.ACTOR_RESTARTS.labels("loop-app", "ChannelActor")._value.get()
    stops = metrics.ACTORS_STOPPED.labels("loop-app", "ChannelActor")._value.get()
    channel.start()
    assert channel.join(1) is True
    assert stopped == [channel]
    assert metrics.ACTOR_RESTARTS.labels("loop-app", "ChannelActor")._value.get() == restarts + 2
    assert metrics.ACTORS_STOPPED.labels("loop-app", "ChannelActor")._value.get() == stops + 1
    assert [f["event"] for f in alice.frames] == [SUCCEEDED]
    assert alice.closes == [Err.CHANNEL_RESTARTED]  # released by the first crash
    assert bob.frames == [] and bob.closes == [Err.CHANNEL_RESTARTED]
    assert carol.frames == [] and carol.closes == [Err.CHANNEL_RESTARTED]


def test_a_channel_that_empties_with_mail_waiting_reports_empty_once_it_is_read() -> None:
    """The app keeps a channel whose mailbox is not empty when it reports itself empty (a
    subscribe may be on its way), so the channel reports once its mail is read, whatever
    the mail was, or the app would keep the empty actor forever."""
    empties = Empties()
    channel = ChannelActor(classify("news"), channel_settings(), on_empty=empties).start()
    alice = Socket("1.1")
    channel.ask(Join(alice))
    channel.tell(Leave(alice))
    channel.tell(Broadcast(publish("late")))
    channel.ask(Leave(Socket("2.2")))
    assert empties == [channel]
    channel.stop()


def test_a_server_to_user_channel_announces_no_subscription_count() -> None:
    """A user's sockets join its server-to-user channel silently at sign-in; the channel is
    internal, so with subscription counts on, a socket leaving tells the others nothing and
    no webhook goes out."""
    notifier = Notifier()
    settings = channel_settings(notifier=notifier, counted=True)
    channel = ChannelActor(
        classify("#server-to-user-u1"), settings, on_empty=lambda _: None
    ).start()
    phone, laptop = Socket("1.1"), Socket("2.2")
    channel.ask(Join(phone, silent=True))
    channel.ask(Join(laptop, silent=True))
    channel.ask(Leave(laptop))
    assert (phone.frames, laptop.frames, notifier.events) == ([], [], [])
    channel.stop()


def test_joins_wait_for_the_channel_s_topic_to_be_routed() -> None:
    """With other nodes, a new channel admits nobody until the bus confirmed its topic: a
    subscription_succeeded promises every event another node publishes after it. A socket
    that leaves meanwhile is simply forgotten; the channel is not empty (the app does not
    retire it) while a join waits."""
    empties = Empties()
    channel = ChannelActor(classify("news"), channel_settings(), empties, routed=False).start()
    alice, bob = Socket("1.1"), Socket("2.2")
    channel.ask(Join(alice))
    channel.ask(Join(bob))
    channel.ask(Broadcast(publish("before")))  # nobody is subscribed yet
    channel.ask(Leave(bob))
    assert alice.frames == bob.frames == [] and not channel.is_empty and empties == []
    channel.ask(Routed())
    channel.ask(Broadcast(publish("after")))
    assert [f["event"] for f in alice.frames] == [SUCCEEDED, "after"]
    assert bob.frames == []
    channel.ask(Leave(alice))
    assert channel.is_empty and empties == [channel]
    channel.stop()


def test_a_channel_whose_waiting_joins_all_left_is_empty() -> None:
    """Once every waiting join has left, nothing is held and nobody is subscribed: the
    channel reports itself empty and the app retires it; a later subscribe makes a new one."""
    empties = Empties()
    channel = ChannelActor(classify("news"), channel_settings(), empties, routed=False).start()
    alice, bob = Socket("1.1"), Socket("2.2")
    channel.ask(Join(alice))
    channel.ask(Join(bob))
    channel.ask(Leave(alice))
    assert not channel.is_empty and empties == []
    channel.ask(Leave(bob))
    assert channel.is_empty and empties == [channel]
    assert alice.frames == bob.frames == [] and alice.closes == bob.closes == []
    channel.stop()


def test_a_join_that_crashes_once_routed_releases_the_joins_behind_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Four joins wait for the topic; once it is routed the second raises. The first two
    were admitted and are released with the rest; the two behind it, never handled, are told
    to reconnect too rather than wait forever for an answer."""
    channel = presence_channel(Notifier(), routed=False).start()
    alice, bob, carol = Socket("alice"), Socket("bob"), Socket("carol")
    mallory = Socket("mallory", fail_on=SUCCEEDED)
    for socket in (alice, mallory, bob, carol):
        channel.ask(joins(socket))
    channel.tell(Routed())  # a tell: what it raises is a crash, not the asker's
    assert channel.ask(Leave(Socket("nobody"))) is None  # handled after the crash

    assert [f["event"] for f in alice.frames] == [SUCCEEDED, "pusher_internal:member_added"]
    assert mallory.frames == bob.frames == carol.frames == []
    for socket in (alice, mallory, bob, carol):
        assert socket.closes == [Err.CHANNEL_RESTARTED]
    assert [r.getMessage().partition(";")[0] for r in caplog.records] == [
        "actor channel:presence-room crashed handling Routed",
        "channel presence-room released: 4 sockets told to reconnect, 2 members removed",
    ]
    assert channel.is_empty and channel.stats() == ChannelStats(0, 0)
    channel.stop()


def test_a_user_s_channel_welcomes_a_signed_in_socket_once_it_holds_it() -> None:
    channel = ChannelActor(
        classify("#server-to-user-carol"), channel_settings(), lambda _: None, routed=False
    ).start()
    carol = Socket("1.1")
    welcome = text_frame(orjson.dumps({"event": "pusher:signin_success", "data": "{}"}))
    channel.ask(Join(carol, silent=True, welcome=(welcome,)))
    assert carol.frames == []
    channel.ask(Routed())
    assert [f["event"] for f in carol.frames] == ["pusher:signin_success"]
    channel.stop()


def test_a_channel_released_while_joins_wait_closes_their_sockets() -> None:
    channel = presence_channel(Notifier(), routed=False).start()
    alice = Socket("alice")
    channel.ask(joins(alice))
    channel.stop()
    assert channel.join(1) is True
    assert alice.frames == [] and alice.closes == [Err.CHANNEL_RESTARTED]
