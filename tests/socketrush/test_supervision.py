"""Supervision that heals, end to end: real server processes with one failure injected (see
tests/support/patched.py), real WebSocket clients, the HTTP API through the official SDK,
webhooks to a real receiver and the metrics scraped from the real exporter.

A channel that crashes in the middle of a presence join leaves no ghost member anywhere: its
sockets are told to reconnect (4200), its members are removed for everyone (webhooks, other
clients, the users list, the other nodes). A crash loop stops the channel or app actor after
five restarts: its sockets get 4200, the stop is counted, and a new actor serves what comes
next.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.support.client import PusherClient, expect_close, sdk, subscribe_signed
from tests.support.metrics import other_free_port, scrape_until, value
from tests.support.nodes import wait_ready
from tests.support.patched import PatchedServer
from tests.support.redis import RedisServer
from tests.support.server import APP_ID, ServerProcess
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.timeout(90)

ROOM = "presence-room"
CHANNEL_RESTARTED = {
    "event": "pusher:error",
    "data": {"code": 4200, "message": "Channel restarted, reconnect"},
}
APP_RESTARTED = {
    "event": "pusher:error",
    "data": {"code": 4200, "message": "Application restarted on this server, reconnect"},
}
RESTARTS, STOPPED = "socketrush_actor_restarts_total", "socketrush_actors_stopped_total"

# The joiner's member list raises for a "crash-" user: on one node after its member_added went
# out to the members and to webhooks, across nodes after the cluster wrote and announced it.
CRASH_IN_PRESENCE_JOIN = """
from socketrush.channels.actor import ChannelActor

presence_frame = ChannelActor.presence_frame


def crashing_presence_frame(self, members):
    if any(user_id.startswith("crash-") for user_id in members):
        raise RuntimeError("injected: a crash in the middle of a presence join")
    return presence_frame(self, members)


ChannelActor.presence_frame = crashing_presence_frame
"""
# A channel crashes on every fan-out of a "poison" event.
POISONED_CHANNEL = """
from socketrush.channels import actor

fan_out = actor.fan_out


def poisoned_fan_out(app_id, subscribers, frame, *rest):
    if b'"event":"poison"' in frame:
        raise RuntimeError("injected: a poisoned fan-out")
    return fan_out(app_id, subscribers, frame, *rest)


actor.fan_out = poisoned_fan_out
"""
# An app crashes on every publish of a "poison" event.
POISONED_APP = """
from socketrush.app import Publish
from socketrush.app.actor import AppActor

publish = AppActor._handlers[Publish]


def poisoned_publish(app, message):
    if b'"event":"poison"' in message.payload:
        raise RuntimeError("injected: a poisoned publish")
    return publish(app, message)


AppActor._handlers[Publish] = poisoned_publish
"""
# The first connection's app stops between its lookup and its connect, as a crash loop stops
# it while a lookup waits (a database app manager yields): six messages it cannot handle.
APP_STOPS_AFTER_LOOKUP = """
from socketrush.node import Node

lookup = Node.app_by_key
stopped = []


def lookup_then_crash_loop(node, key):
    app = lookup(node, key)
    if app is not None and not stopped:
        stopped.append(app)
        for _ in range(6):
            app.tell("crash")
        app.join(10)
    return app


Node.app_by_key = lookup_then_crash_loop
"""


def webhooks_to(receiver: Receiver) -> list[str]:
    """Occupancy and member webhooks, one request per event, in order, without delay."""
    args = ["--app-webhooks-enabled", "true", "--app-webhook-url", receiver.url]
    args += ["--queue-workers", "1", "--webhook-member-removed-delay-ms", "0"]
    for kind in ("channel-occupied", "channel-vacated", "member-added", "member-removed"):
        args += [f"--app-has-{kind}-webhooks", "true"]
    return args


def events_of(receiver: Receiver, count: int) -> list[tuple[str, ...]]:
    """(name, user id) or (name,) of the first `count` webhook events, in order."""
    return [
        (e["name"], e["user_id"]) if "user_id" in e else (e["name"],)
        for request in receiver.wait_for(count)
        for e in request.events
    ]


def member(server: ServerProcess, user_id: str) -> PusherClient:
    """A client that joined ROOM as `user_id`; returns after its subscription_succeeded."""
    client = PusherClient.connect(server)
    subscribe_signed(server, client, ROOM, {"user_id": user_id, "user_info": {}})
    client.recv_event("pusher_internal:subscription_succeeded")
    return client


def joining(server: ServerProcess, user_id: str) -> PusherClient:
    """A client that asked to join ROOM as `user_id` (no answer awaited)."""
    client = PusherClient.connect(server)
    subscribe_signed(server, client, ROOM, {"user_id": user_id, "user_info": {}})
    return client


def member_event(added: bool, user_id: str) -> dict:
    data: dict = {"user_id": user_id, "user_info": {}} if added else {"user_id": user_id}
    name = "member_added" if added else "member_removed"
    return {"event": f"pusher_internal:{name}", "channel": ROOM, "data": data}


def crash_lines(server: ServerProcess) -> list[str]:
    return [
        line[line.index("actor ") : line.index(";")]
        for line in server.log().splitlines()
        if " crashed handling " in line
    ]


@pytest.fixture
def started() -> Iterator[list[ServerProcess]]:
    servers: list[ServerProcess] = []
    yield servers
    for server in servers:
        server.stop()


def test_a_channel_crashing_in_the_middle_of_a_presence_join_leaves_no_ghost(
    started: list[ServerProcess],
) -> None:
    with Receiver() as receiver:
        server = PatchedServer(patch=CRASH_IN_PRESENCE_JOIN, args=webhooks_to(receiver))
        started.append(server.start())
        alice = member(server, "alice")
        bob = member(server, "bob")
        assert alice.recv() == member_event(True, "bob")
        crasher = joining(server, "crash-1")

        # Its member_added went out before the crash; then every socket the channel held is
        # told to reconnect, the joiner too, which never got its subscription_succeeded.
        for client in (alice, bob):
            assert client.recv() == member_event(True, "crash-1")
        for client in (alice, bob, crasher):
            assert expect_close(client) == (CHANNEL_RESTARTED, 4200)
        assert events_of(receiver, 8) == [
            ("channel_occupied",),
            ("member_added", "alice"),
            ("member_added", "bob"),
            ("member_added", "crash-1"),
            ("member_removed", "alice"),
            ("member_removed", "bob"),
            ("member_removed", "crash-1"),
            ("channel_vacated",),
        ]
        api = sdk(server)
        assert api.users_info(ROOM) == {"users": []}
        assert api.channel_info(ROOM, ["user_count"]) == {"occupied": False, "user_count": 0}

        # pusher-js would now reconnect and subscribe again: the channel serves it afresh.
        again = PusherClient.connect(server)
        subscribe_signed(server, again, ROOM, {"user_id": "alice", "user_info": {}})
        succeeded = again.recv_event("pusher_internal:subscription_succeeded")
        assert succeeded["data"] == {
            "presence": {"ids": ["alice"], "hash": {"alice": {}}, "count": 1}
        }
        assert api.users_info(ROOM) == {"users": [{"id": "alice"}]}
        assert events_of(receiver, 10)[8:] == [("channel_occupied",), ("member_added", "alice")]
        again.close()
    assert crash_lines(server) == ["actor channel:presence-room crashed handling Join"]


def test_across_nodes_the_cluster_is_told_the_crashed_channels_members_left(
    redis_server: RedisServer, started: list[ServerProcess]
) -> None:
    """Node A's channel crashes after the cluster wrote crash-1 and announced it: the other
    node's members see crash-1 and A's members leave, and no node lists a ghost."""
    on_redis = ["--adapter-driver", "redis", "--redis-url", redis_server.url]
    on_redis += ["--redis-prefix", f"test-{uuid.uuid4().hex[:8]}"]
    with Receiver() as receiver:
        here = PatchedServer(patch=CRASH_IN_PRESENCE_JOIN, args=on_redis + webhooks_to(receiver))
        there = ServerProcess(args=on_redis + webhooks_to(receiver))
        for server in (here, there):
            started.append(server.start())
            wait_ready(server)
        alice = member(here, "alice")
        bob = member(there, "bob")
        assert alice.recv() == member_event(True, "bob")
        crasher = joining(here, "crash-1")

        assert [bob.recv() for _ in range(3)] == [
            member_event(True, "crash-1"),
            member_event(False, "alice"),
            member_event(False, "crash-1"),
        ]
        for client in (alice, crasher):
            assert expect_close(client) == (CHANNEL_RESTARTED, 4200)
        for server in (here, there):
            assert sdk(server).users_info(ROOM) == {"users": [{"id": "bob"}]}
        assert Counter(events_of(receiver, 6)) == Counter(
            [
                ("channel_occupied",),
                ("member_added", "alice"),
                ("member_added", "bob"),
                ("member_added", "crash-1"),
                ("member_removed", "alice"),
                ("member_removed", "crash-1"),
            ]
        )

        again = member(here, "alice")
        assert bob.recv() == member_event(True, "alice")
        for server in (here, there):
            users = sdk(server).users_info(ROOM)["users"]
            assert sorted(user["id"] for user in users) == ["alice", "bob"]
        again.close()
        bob.close()
    assert crash_lines(here) == ["actor channel:presence-room crashed handling PresenceJoined"]


def poison_batch(server: ServerProcess, channel: str) -> None:
    """Ten poison events in one request, each excluding another socket, so the channel
    cannot join them into one write: ten messages, ten crashes."""
    batch = [
        {"channel": channel, "name": "poison", "data": str(n), "socket_id": f"1.{n}"}
        for n in range(10)
    ]
    assert sdk(server).trigger_batch(batch) == {}


def metrics_flags(server: ServerProcess) -> tuple[list[str], int]:
    port = other_free_port(server.port)
    return ["--metrics-enabled", "true", "--metrics-port", str(port)], port


def test_a_channel_crash_loop_stops_it_and_a_new_channel_serves_the_next_subscribers(
    started: list[ServerProcess],
) -> None:
    server = PatchedServer(patch=POISONED_CHANNEL)
    flags, metrics_port = metrics_flags(server)
    server.args = flags
    started.append(server.start())
    reader = PusherClient.connect(server)
    reader.subscribe("news")
    reader.recv_event("pusher_internal:subscription_succeeded")

    poison_batch(server, "news")

    assert expect_close(reader) == (CHANNEL_RESTARTED, 4200)  # the first crash released it
    samples = scrape_until(metrics_port, STOPPED, 1, app_id=APP_ID, actor="ChannelActor")
    assert value(samples, STOPPED, app_id=APP_ID, actor="ChannelActor") == 1
    assert value(samples, RESTARTS, app_id=APP_ID, actor="ChannelActor") == 5
    assert crash_lines(server) == ["actor channel:news crashed handling Broadcast"] * 6
    assert "actor channel:news restarted 5 times within 10s and crashed again" in server.log()

    again = PusherClient.connect(server)
    again.subscribe("news")
    again.recv_event("pusher_internal:subscription_succeeded")
    assert sdk(server).trigger("news", "after", "healed") == {}
    assert again.recv() == {"event": "after", "channel": "news", "data": "healed"}
    again.close()


def test_an_app_crash_loop_stops_it_closes_its_connections_and_a_new_app_actor_takes_over(
    started: list[ServerProcess],
) -> None:
    server = PatchedServer(patch=POISONED_APP)
    flags, metrics_port = metrics_flags(server)
    server.args = flags
    started.append(server.start())
    subscribed = PusherClient.connect(server)
    subscribed.subscribe("news")
    subscribed.recv_event("pusher_internal:subscription_succeeded")
    idle = PusherClient.connect(server)

    poison_batch(server, "news")

    for client in (subscribed, idle):
        assert expect_close(client) == (APP_RESTARTED, 4200)
    samples = scrape_until(metrics_port, STOPPED, 1, app_id=APP_ID, actor="AppActor")
    assert value(samples, STOPPED, app_id=APP_ID, actor="AppActor") == 1
    assert value(samples, RESTARTS, app_id=APP_ID, actor="AppActor") == 5
    assert crash_lines(server) == [f"actor app:{APP_ID} crashed handling Publish"] * 6

    again = PusherClient.connect(server)
    again.subscribe("news")
    again.recv_event("pusher_internal:subscription_succeeded")
    api = sdk(server)
    assert api.trigger("news", "after", "healed") == {}
    assert again.recv() == {"event": "after", "channel": "news", "data": "healed"}
    assert api.channels_info() == {"channels": {"news": {}}}
    again.close()


@pytest.mark.parametrize(
    "quota", [[], ["--app-max-connections", "10"]], ids=["told", "asked-for-the-quota"]
)
def test_a_connection_whose_app_stopped_after_its_lookup_is_told_to_reconnect(
    started: list[ServerProcess], quota: list[str]
) -> None:
    """The app actor the connection found is stopped by the time it connects: the client is
    told to reconnect (4200), not left attached to an app that no longer hears it, and the
    next connection is served by a new app actor. Under a connection quota the connection
    asks the app instead of telling it."""
    server = PatchedServer(patch=APP_STOPS_AFTER_LOOKUP, args=quota)
    started.append(server.start())
    first = PusherClient(server.ws_url())
    assert expect_close(first) == (APP_RESTARTED, 4200)
    assert crash_lines(server) == [f"actor app:{APP_ID} crashed handling str"] * 6

    again = PusherClient.connect(server)
    again.subscribe("news")
    again.recv_event("pusher_internal:subscription_succeeded")
    assert sdk(server).trigger("news", "after", "healed") == {}
    assert again.recv() == {"event": "after", "channel": "news", "data": "healed"}
    again.close()
