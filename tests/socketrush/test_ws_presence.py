"""End-to-end: presence channels — member lists, member_added/removed, one user on many
sockets, and the member-count and member-size limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.client import PusherClient, assert_alive, sdk, subscribe_signed
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def presence_server() -> Iterator[ServerProcess]:
    """At most 2 members per channel and 1 KB of channel_data per member."""
    args = [
        "--app-max-presence-members-per-channel",
        "2",
        "--app-max-presence-member-size-in-kb",
        "1",
        "--app-enable-client-messages",
        "true",
    ]
    with ServerProcess(args=args) as proc:
        yield proc


def join(server: ServerProcess, channel: str, user_id: str, info: object = None) -> PusherClient:
    client = PusherClient.connect(server)
    subscribe_signed(server, client, channel, {"user_id": user_id, "user_info": info})
    return client


def succeeded(channel: str, members: dict[str, object]) -> dict:
    presence = {"ids": list(members), "hash": members, "count": len(members)}
    return {
        "event": "pusher_internal:subscription_succeeded",
        "channel": channel,
        "data": {"presence": presence},
    }


def marker(server: ServerProcess, channel: str, n: int) -> dict:
    """Publish an event through the app: anything the channel sent a socket before it
    arrives ahead of this, so "the next frame is the marker" proves "nothing else came"."""
    assert sdk(server).trigger(channel, "marker", {"n": n}) == {}
    return {"event": "marker", "channel": channel, "data": {"n": n}}


def test_members_join_and_leave(presence_server: ServerProcess) -> None:
    channel = "presence-lobby"
    alice = join(presence_server, channel, "1", {"name": "Alice"})
    assert alice.recv() == succeeded(channel, {"1": {"name": "Alice"}})

    bob = join(presence_server, channel, "2", {"name": "Bob"})
    assert bob.recv() == succeeded(channel, {"1": {"name": "Alice"}, "2": {"name": "Bob"}})
    assert alice.recv() == {
        "event": "pusher_internal:member_added",
        "channel": channel,
        "data": {"user_id": "2", "user_info": {"name": "Bob"}},
    }
    # member_added goes to the others only: Bob's next frame is the marker.
    expected = marker(presence_server, channel, 1)
    assert bob.recv() == expected
    assert alice.recv() == expected

    bob.close()
    assert alice.recv() == {
        "event": "pusher_internal:member_removed",
        "channel": channel,
        "data": {"user_id": "2"},
    }
    alice.close()


def test_same_user_on_two_sockets_counts_once(presence_server: ServerProcess) -> None:
    channel = "presence-twice"
    alice = join(presence_server, channel, "1", "a")
    assert alice.recv() == succeeded(channel, {"1": "a"})
    bob_phone = join(presence_server, channel, "2", "b")
    assert bob_phone.recv() == succeeded(channel, {"1": "a", "2": "b"})
    assert alice.recv()["event"] == "pusher_internal:member_added"

    bob_laptop = join(presence_server, channel, "2", "b")
    assert bob_laptop.recv() == succeeded(channel, {"1": "a", "2": "b"})
    expected = marker(presence_server, channel, 1)
    assert alice.recv() == expected  # no second member_added
    assert bob_phone.recv() == expected
    assert bob_laptop.recv() == expected

    bob_phone.send("pusher:unsubscribe", {"channel": channel})
    assert_alive(bob_phone)  # the unsubscribe was read before the marker is published
    expected = marker(presence_server, channel, 2)
    assert alice.recv() == expected  # Bob is still here on his laptop
    assert bob_laptop.recv() == expected

    bob_laptop.close()
    assert alice.recv() == {
        "event": "pusher_internal:member_removed",
        "channel": channel,
        "data": {"user_id": "2"},
    }
    alice.close()
    bob_phone.close()


def test_numeric_user_id_is_a_string_member(presence_server: ServerProcess) -> None:
    channel = "presence-numeric"
    client = PusherClient.connect(presence_server)
    subscribe_signed(presence_server, client, channel, {"user_id": 42})
    assert client.recv() == succeeded(channel, {"42": None})
    client.close()


def test_presence_without_channel_data_is_refused(presence_server: ServerProcess) -> None:
    client = PusherClient.connect(presence_server)
    subscribe_signed(presence_server, client, "presence-nodata")
    assert client.recv() == {
        "event": "pusher:subscription_error",
        "channel": "presence-nodata",
        "data": {
            "type": "AuthError",
            "error": "Invalid signature: the auth for this channel was not signed by the "
            "app's secret",
            "status": 401,
        },
    }
    client.close()


def test_member_limit(presence_server: ServerProcess) -> None:
    channel = "presence-full"
    first = join(presence_server, channel, "1")
    assert first.recv()["event"] == "pusher_internal:subscription_succeeded"
    second = join(presence_server, channel, "2")
    assert second.recv()["event"] == "pusher_internal:subscription_succeeded"
    assert first.recv()["event"] == "pusher_internal:member_added"

    third = join(presence_server, channel, "3")
    assert third.recv() == {
        "event": "pusher:subscription_error",
        "channel": channel,
        "data": {
            "type": "LimitReached",
            "error": "The maximum number of members in this presence channel has been reached",
            "status": 4100,
        },
    }
    assert_alive(third)

    # An existing member may still add a socket.
    first_again = join(presence_server, channel, "1")
    assert first_again.recv() == succeeded(channel, {"1": None, "2": None})
    for client in (first, second, third, first_again):
        client.close()


def test_refused_member_cannot_send_client_events(presence_server: ServerProcess) -> None:
    channel = "presence-full-events"
    first = join(presence_server, channel, "1")
    assert first.recv()["event"] == "pusher_internal:subscription_succeeded"
    second = join(presence_server, channel, "2")
    assert second.recv()["event"] == "pusher_internal:subscription_succeeded"
    assert first.recv()["event"] == "pusher_internal:member_added"
    third = join(presence_server, channel, "3")
    assert third.recv()["event"] == "pusher:subscription_error"

    third.send("client-sneak", {"x": 1}, channel=channel)
    assert third.recv() == {
        "event": "pusher:error",
        "data": {"code": None, "message": f"Not subscribed to channel {channel}"},
    }
    expected = marker(presence_server, channel, 1)
    assert first.recv() == expected  # the refused socket's event never reached members
    for client in (first, second, third):
        client.close()


def test_member_data_size_limit(presence_server: ServerProcess) -> None:
    channel = "presence-big"
    client = join(presence_server, channel, "1", {"bio": "x" * 1100})
    assert client.recv() == {
        "event": "pusher:subscription_error",
        "channel": channel,
        "data": {
            "type": "LimitReached",
            "error": "Presence member data is larger than 1 KB",
            "status": 413,
        },
    }
    assert_alive(client)
    small = join(presence_server, channel, "2", {"bio": "x" * 900})
    assert small.recv() == succeeded(channel, {"2": {"bio": "x" * 900}})
    client.close()
    small.close()


def test_a_repeated_subscribe_as_another_user_keeps_the_first(
    presence_server: ServerProcess,
) -> None:
    """The channel answers a repeat again as the member the socket is, and the socket's
    client events keep naming that member: before, they named the new channel_data's user,
    who never joined."""
    channel = "presence-repeated"
    watcher = join(presence_server, channel, "w")
    assert watcher.recv() == succeeded(channel, {"w": None})
    alice = join(presence_server, channel, "alice")
    assert alice.recv() == succeeded(channel, {"w": None, "alice": None})
    assert watcher.recv()["event"] == "pusher_internal:member_added"
    subscribe_signed(presence_server, alice, channel, {"user_id": "mallory"})
    assert alice.recv() == succeeded(channel, {"w": None, "alice": None})
    alice.send("client-hello", {"n": 1}, channel=channel)
    assert watcher.recv() == {
        "event": "client-hello",
        "channel": channel,
        "data": {"n": 1},
        "user_id": "alice",
    }
    alice.close()
    assert watcher.recv() == {
        "event": "pusher_internal:member_removed",
        "channel": channel,
        "data": {"user_id": "alice"},
    }
    expected = marker(presence_server, channel, 1)
    assert watcher.recv() == expected  # and nothing about mallory came before it
    watcher.close()
