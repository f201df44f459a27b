"""The census a node exports at scrape time: exact counts of what its clients hold, back to the
baseline once they leave; and the mailbox figures of the actors it counts."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import gevent
import pytest
from gevent.event import Event

from actors import Actor
from socketrush import census
from tests.support.client import PusherClient, sign_in, subscribe_signed
from tests.support.metrics import Samples, other_free_port, scrape
from tests.support.polling import wait_until
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def counted() -> Iterator[tuple[ServerProcess, int]]:
    """A server exporting its census, heap counts included; and its metrics port."""
    server = ServerProcess()
    port = other_free_port(server.port)
    server.args = ["--metrics-enabled", "true", "--metrics-port", str(port)]
    server.args += ["--metrics-count-objects", "true"]
    with server:
        yield server, port


def figures(samples: Samples) -> dict[str, float]:
    """Census samples by name, with their label value if they have one."""
    found = {}
    for (name, labels), value in samples.items():
        if name.startswith("socketrush_census_") and name != "socketrush_census_heap_seconds":
            short = name.removeprefix("socketrush_census_")
            found[short + "".join(f"[{v}]" for _, v in sorted(labels))] = value
    return found


def changed(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What differs from `before`: a figure gone from `after` reads 0."""
    keys = before.keys() | after.keys()
    return {
        key: after.get(key, 0) - before.get(key, 0)
        for key in sorted(keys)
        if after.get(key, 0) != before.get(key, 0)
    }


def test_clients_are_counted_exactly_and_leave_nothing_behind(counted) -> None:
    server, port = counted
    warm_up = PusherClient.connect(server)  # first-connection state (counters, a flusher)
    warm_up.close()
    wait_until(lambda: figures(scrape(port))["connections"] == 0, 5, lambda: "warm-up stays")
    before = figures(scrape(port))
    reader = PusherClient.connect(server)
    reader.subscribe("news")
    reader.recv_event("pusher_internal:subscription_succeeded")
    reader.subscribe("cache-prices")
    reader.recv_event("pusher:cache_miss")
    private = PusherClient.connect(server)
    subscribe_signed(server, private, "private-desk")
    private.recv_event("pusher_internal:subscription_succeeded")
    member = PusherClient.connect(server)
    subscribe_signed(server, member, "presence-room", {"user_id": "u1", "user_info": {}})
    member.recv_event("pusher_internal:subscription_succeeded")
    signed = PusherClient.connect(server)
    sign_in(server, signed, {"id": "alice", "watchlist": ["bob", "carol"]})
    signed.recv_event("pusher:signin_success")
    clients = (reader, private, member, signed)

    held = changed(before, figures(scrape(port)))
    # A read watcher each, at least (the activity wheel's one timer may outlive the warm-up's
    # connection by a tick, so it may be counted in `before` already).
    loop_watchers = held.pop("loop_watchers")
    assert loop_watchers >= 4
    held.pop("idle_runners", None)  # how many runners are parked depends on timing
    # The transport's socket wrapper: of the OS socket when the request head was there as
    # the connection was accepted, of gevent's socket when it came later.
    assert held.pop("objects[RawWire]", 0) + held.pop("objects[Wire]", 0) == 4
    assert held == {
        "actors[ChannelActor]": 5,
        "channels[cache-public]": 1,
        "channels[presence]": 1,
        "channels[private]": 1,
        "channels[public]": 1,
        "channels[server-to-user]": 1,  # joined silently at sign-in
        "connections": 4,
        "members": 1,
        "objects[ChannelActor]": 5,
        "objects[ChannelInfo]": 5,  # kept by classify's bounded cache after they leave
        "objects[ChannelSettings]": 1,  # the server-to-user channel's own: no webhooks, no count
        "objects[FrameParser]": 4,
        "objects[Endpoint]": 4,  # the transport's RFC 6455 side of a connection
        "objects[Handshake]": 4,
        "objects[LocalMembership]": 5,  # a channel's membership strategy
        "objects[Member]": 1,
        "objects[Outbox]": 4,
        "objects[PresenceRoster]": 1,
        "objects[SocketActor]": 4,
        "objects[Reads]": 4,  # the event loop's read callback of a connection
        "subscriptions": 5,
        "timers": 4,  # one activity check per connection, on the wheel
        "users": 1,
        "watched_users": 2,
    }

    for client in clients:
        client.close()

    def settled() -> dict[str, float]:
        left = changed(before, figures(scrape(port)))
        left.pop("idle_runners", None)
        left.pop("objects[ChannelInfo]", None)
        return left

    wait_until(lambda: not settled(), 5, lambda: f"left behind: {settled()}")


class Held(Actor):
    """Handles nothing until told to (a gevent Event in the message)."""

    def receive(self, message: object) -> None:
        message.wait()


def test_mailbox_figures_are_the_total_and_the_fullest() -> None:
    release = Event()
    busy, quiet = Held().start(), Held().start()
    busy.tell(release)
    for _ in range(4):
        busy.tell(release)
    quiet.tell(release)
    try:
        gevent.idle()  # both took their first message and wait on it
        taken = census.take(SimpleNamespace(apps=[]))
        assert taken.actors["Held"] == 2
        assert (taken.mailbox_messages, taken.mailbox_max) == (4, 4)
    finally:
        release.set()
        for actor in (busy, quiet):
            actor.stop(drain=True)
            actor.join(1)
    assert "Held" not in census.take(SimpleNamespace(apps=[])).actors
