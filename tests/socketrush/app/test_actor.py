"""AppActor: the supervisor of its channels, a crash of its own, and the bound on what the
HTTP API may queue for it."""

from __future__ import annotations

from dataclasses import dataclass, field

import gevent
import pytest

from actors import MailboxFull
from socketrush import metrics
from socketrush.adapters.local import LocalAdapter
from socketrush.app import (
    AppActor,
    Connect,
    Disconnect,
    Publish,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from socketrush.cache.access import DirectCache
from socketrush.cache.local import LocalCache
from socketrush.channels import ChannelActor, Member
from socketrush.protocol.channels import classify
from socketrush.protocol.errors import Err, ErrorSpec, SubscriptionRefusal
from socketrush.settings import AppSettings
from socketrush.supervision import HealingSupervisor

APP_ID = "restart-app"
NEWS = b'{"event":"e","channel":"news","data":"{}"}'


@dataclass
class Socket:
    """A connection that records what it is sent, every close it is asked for, and every
    error it is asked to report (with its message)."""

    socket_id: str
    frames: list[bytes] = field(default_factory=list)
    closes: list[ErrorSpec] = field(default_factory=list)
    errors: list[tuple[ErrorSpec | SubscriptionRefusal, str | None]] = field(default_factory=list)
    channels: dict[str, ChannelActor] = field(default_factory=dict)

    def send_frame(self, frame: bytes) -> None:
        self.frames.append(frame)

    def close_with(self, spec: ErrorSpec, message: str | None = None) -> None:
        self.closes.append(spec)

    def fail(self, spec: ErrorSpec, message: str | None = None) -> None:
        self.errors.append((spec, message))

    def refuse(
        self, channel: str, refusal: SubscriptionRefusal, message: str | None = None
    ) -> None:
        self.errors.append((refusal, message))

    def channel_ready(self, name: str, channel: ChannelActor) -> None:
        self.channels[name] = channel


def restarts(actor: str) -> float:
    return metrics.ACTOR_RESTARTS.labels(APP_ID, actor)._value.get()


def stops(actor: str) -> float:
    return metrics.ACTORS_STOPPED.labels(APP_ID, actor)._value.get()


def new_app(**kwargs) -> AppActor:
    settings = AppSettings(id=APP_ID, key="k", secret="s")
    return AppActor(settings, DirectCache(LocalCache()), LocalAdapter(), **kwargs)


def connected(app: AppActor, *sockets: Socket, channel: str = "news") -> None:
    for socket in sockets:
        app.tell(Connect(socket))
        app.tell(Subscribe(socket, classify(channel)))
    gevent.idle()


def test_a_crashed_channel_is_rebuilt_counted_and_its_subscribers_told_to_reconnect() -> None:
    app = new_app().start()
    alice, bob = Socket("1.1"), Socket("2.2")
    connected(app, alice, bob)
    channel = alice.channels["news"]
    before = restarts("ChannelActor")

    channel.tell("not a channel message")  # receive() raises TypeError: a crash
    gevent.idle()

    assert restarts("ChannelActor") == before + 1
    assert alice.closes == [Err.CHANNEL_RESTARTED] and bob.closes == [Err.CHANNEL_RESTARTED]
    # The rebuilt channel reported itself empty: the app retired it, and a new subscriber
    # gets a new channel that works.
    carol = Socket("3.3")
    connected(app, carol)
    assert carol.channels["news"] is not channel and not channel.is_alive
    carol.frames.clear()
    app.tell(Publish("news", NEWS))
    gevent.idle()
    assert carol.frames == [b"\x81*" + NEWS]
    app.stop()


def test_a_crashed_app_closes_its_connections_releases_its_channels_and_starts_empty() -> None:
    app = new_app(supervisor=HealingSupervisor(APP_ID)).start()
    alice, bob = Socket("1.1"), Socket("2.2")
    connected(app, alice)
    app.tell(Connect(bob))
    app.tell(Subscribe(bob, classify("presence-room"), Member("bob", {})))
    app.tell(SignIn(bob, "bob", ()))
    gevent.idle()
    channels = [alice.channels["news"], bob.channels["presence-room"]]
    before = restarts("AppActor")

    app.tell("not an app message")
    gevent.idle()

    assert restarts("AppActor") == before + 1
    assert app.is_alive and app.connection_count == 0
    # Then their channels stopped, releasing them again: a real connection ignores that.
    assert alice.closes[0] == Err.APP_RESTARTED and bob.closes[0] == Err.APP_RESTARTED
    assert [channel.is_alive for channel in channels] == [False, False]
    watcher = Socket("9.9")
    app.ask(SignIn(watcher, "watcher", ("bob",)))
    assert watcher.frames == []  # bob is not online any more: no "online" watchlist event
    # The connections' own disconnects, arriving after, find nothing to undo.
    app.tell(Disconnect(alice, ("news",), None, ()))
    app.tell(Disconnect(bob, ("presence-room",), "bob", ()))
    carol = Socket("3.3")
    connected(app, carol)
    carol.frames.clear()
    app.tell(Publish("news", NEWS))
    gevent.idle()
    assert carol.frames == [b"\x81*" + NEWS]
    assert app.connection_count == 1
    app.stop()


def test_a_channel_stopped_by_its_crash_loop_is_forgotten_and_replaced() -> None:
    app = new_app(channel_restarts=0).start()  # the first crash stops a channel
    alice = Socket("1.1")
    connected(app, alice)
    channel = alice.channels["news"]
    before = stops("ChannelActor")
    channel.tell("not a channel message")
    gevent.idle()
    assert not channel.is_alive and stops("ChannelActor") == before + 1
    assert alice.closes == [Err.CHANNEL_RESTARTED]
    bob = Socket("2.2")
    connected(app, bob)
    assert bob.channels["news"] is not channel and bob.channels["news"].is_alive
    app.stop()


def test_a_crash_loop_stops_the_app_and_closes_every_connection_it_was_told_about() -> None:
    """Connections whose messages the stop dropped unhandled are told to reconnect too."""
    stopped: list[object] = []
    app = new_app(supervisor=HealingSupervisor(APP_ID, stopped.append, max_restarts=1))
    alice, bob = Socket("1.1"), Socket("2.2")
    before = stops("AppActor")
    for message in [
        Connect(alice),
        Subscribe(alice, classify("news")),
        "boom",
        "boom",
        Connect(bob),
        Subscribe(bob, classify("news")),
        Disconnect(alice, ("news",), None, ()),
    ]:
        app.tell(message)
    app.start()
    assert app.join(1) is True
    assert stopped == [app] and stops("AppActor") == before + 1
    # Closed by the first crash's release (then by its channel, which it stopped before the
    # channel handled her join: a second close is ignored by a real connection).
    assert alice.closes[0] == Err.APP_RESTARTED
    assert bob.closes == [Err.APP_RESTARTED, Err.APP_RESTARTED]  # its Connect and Subscribe


def test_api_publishes_are_refused_when_the_mailbox_is_full_and_nothing_else_is() -> None:
    app = new_app(publish_limit=3)  # not started: what is told waits in the mailbox
    alice = Socket("1.1")
    for message in [Connect(alice), Subscribe(alice, classify("news")), Publish("news", NEWS)]:
        assert app.tell(message) is True
    with pytest.raises(MailboxFull):
        app.tell(Publish("news", NEWS))
    # Connections' messages, client events and other nodes' events are never refused.
    assert app.tell(Publish("news", NEWS, "1.1", sender=alice)) is True
    assert app.tell(Publish("news", NEWS, from_remote=True)) is True
    assert app.tell(Unsubscribe(alice, "news")) is True
    assert app.mailbox_depth == 6
    app.start()
    gevent.idle()
    assert app.mailbox_depth == 0
    assert app.tell(Publish("news", NEWS)) is True  # room again
    app.stop()


def test_an_api_request_is_queued_whole_or_refused_whole() -> None:
    """A 429 means nothing of the request was published, so it may be sent again as it is;
    a request let in is queued whole (at most the limit plus one request's events wait)."""
    app = new_app(publish_limit=3)
    app.tell_all([Publish("a", NEWS), Publish("b", NEWS)])
    app.tell_all([Publish("c", NEWS)] * 5)  # 2 waiting, under the limit: all five go in
    assert app.mailbox_depth == 7
    with pytest.raises(MailboxFull):
        app.tell_all([Publish("d", NEWS), Publish("e", NEWS)])
    assert app.mailbox_depth == 7


@pytest.mark.parametrize("mail", ["publish", "leave again"])
def test_a_channel_that_empties_with_mail_queued_is_retired_once_it_is_read(mail: str) -> None:
    """The app keeps a channel whose mailbox is not empty when it reports itself empty (a
    join may be on its way); the channel must report again once the mail is read, whatever
    it was, or it stays alive and registered for ever (found by the soak)."""
    app = AppActor(
        AppSettings(id=APP_ID, key="k", secret="s"), DirectCache(LocalCache()), LocalAdapter()
    ).start()
    socket = Socket("1.1")
    app.tell(Subscribe(socket, classify("news")))
    gevent.idle()
    channel = socket.channels["news"]
    app.tell(Unsubscribe(socket, "news"))
    gevent.sleep(0)  # the app handled it; the channel has yet to handle the Leave
    # Mail the app forwards after the channel reported itself empty: the app finds it still
    # queued in the channel and keeps the channel.
    if mail == "publish":
        app.tell(Publish("news", NEWS, None))
    else:
        app.tell(Unsubscribe(socket, "news"))
    gevent.idle()
    assert not channel.is_alive
    app.stop()


def test_a_client_event_for_a_channel_the_app_does_not_have_is_reported_by_the_sender() -> None:
    """The sender's channel was retired between its subscribe and its event (a presence
    channel that refused it emptied): the app has the sender report the error, which a
    connection also shows in the dashboard's debug console."""
    app = new_app().start()
    alice = Socket("1.1")
    app.tell(Connect(alice))
    app.tell(Publish("private-gone", b"{}", "1.1", cacheable=False, sender=alice))
    gevent.idle()
    assert alice.errors == [
        (Err.CLIENT_EVENT_NOT_SUBSCRIBED, "Not subscribed to channel private-gone")
    ]
    assert alice.frames == []
    app.stop()


class WatchingAdapter(LocalAdapter):
    """Records which topics the app watches; the bus confirms only when the test says."""

    def __init__(self) -> None:
        super().__init__()
        self.watching: dict[str, int] = {}
        self.waiting: list = []

    def watch(self, topic, on_ready) -> bool:
        self.watching[topic.name] = self.watching.get(topic.name, 0) + 1
        self.waiting.append(on_ready)
        return False

    def unwatch(self, topic) -> None:
        self.watching[topic.name] -= 1
        if not self.watching[topic.name]:
            del self.watching[topic.name]


def test_a_channel_actor_watches_its_topic_while_it_is_in_the_registry() -> None:
    adapter = WatchingAdapter()
    settings = AppSettings(id=APP_ID, key="k", secret="s")
    app = AppActor(settings, DirectCache(LocalCache()), adapter).start()
    alice, bob = Socket("1.1"), Socket("2.2")
    connected(app, alice)
    app.tell(Connect(bob))
    app.tell(SignIn(bob, "bob", (), b'{"event":"pusher:signin_success","data":{}}'))
    gevent.idle()
    assert adapter.watching == {"news": 1, "bob": 1}  # a channel's, and a user's
    assert alice.frames == [] and bob.frames == []  # until the bus confirms
    for ready in adapter.waiting:
        ready()
    gevent.idle()
    assert len(alice.frames) == 1 and b"subscription_succeeded" in alice.frames[0]
    assert len(bob.frames) == 1 and b"signin_success" in bob.frames[0]
    app.tell(Unsubscribe(alice, "news"))
    gevent.idle()
    assert adapter.watching == {"bob": 1}  # the channel retired
    app.tell(Disconnect(bob, (), "bob", ()))
    gevent.idle()
    assert adapter.watching == {}
    connected(app, alice)
    app.tell("not an app message")  # a crash: the app stops its channels
    gevent.idle()
    assert adapter.watching == {}
    app.stop()


def test_a_subscribe_joins_a_live_channel_without_the_app_only_while_the_app_is_idle() -> None:
    app = new_app(channel_restarts=0).start()
    alice, bob, carol = Socket("1.1"), Socket("2.2"), Socket("3.3")
    connected(app, alice)
    channel = alice.channels["news"]
    news = classify("news")

    assert not app.join_at_once(bob, classify("sport"), None)  # no such channel yet
    app.tell(Connect(carol))  # queued: the app is not idle until its runner reads it
    assert not app.join_at_once(carol, news, None)
    assert carol.channels == {} and carol.frames == []
    gevent.idle()

    assert app.join_at_once(bob, news, None)
    assert bob.channels == {"news": channel}
    succeeded = b'{"event":"pusher_internal:subscription_succeeded","channel":"news","data":"{}"}'
    assert bob.frames == [b"\x81O" + succeeded]
    alice.frames.clear()
    bob.frames.clear()
    app.tell(Publish("news", NEWS))
    gevent.idle()
    assert alice.frames == bob.frames == [b"\x81*" + NEWS]

    channel.tell("not a channel message")  # a crash stops it (no restarts allowed)
    gevent.idle()
    assert not channel.is_alive
    assert not app.join_at_once(carol, news, None)
    assert carol.channels == {}
    app.stop()
