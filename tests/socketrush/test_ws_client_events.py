"""End-to-end: client events — where they are allowed, who gets them, and their limits."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.support.client import PusherClient, assert_alive, subscribe_signed
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def events_server() -> Iterator[ServerProcess]:
    """Client events on, at most 2 per second per connection."""
    args = ["--app-enable-client-messages", "true", "--app-max-client-events-per-second", "2"]
    with ServerProcess(args=args) as proc:
        yield proc


def error(message: str, code: int | None = None) -> dict:
    return {"event": "pusher:error", "data": {"code": code, "message": message}}


def subscribed(server: ServerProcess, channel: str, custom_data: dict | None = None):
    client = PusherClient.connect(server)
    if channel.startswith(("private-", "presence-")):
        subscribe_signed(server, client, channel, custom_data)
    else:
        client.subscribe(channel)
    assert client.recv()["event"] == "pusher_internal:subscription_succeeded"
    return client


def test_client_event_reaches_others_but_not_sender(events_server: ServerProcess) -> None:
    sender = subscribed(events_server, "private-chat")
    receiver = subscribed(events_server, "private-chat")
    sender.send("client-typing", {"who": "me"}, channel="private-chat")
    assert receiver.recv() == {
        "event": "client-typing",
        "channel": "private-chat",
        "data": {"who": "me"},
    }
    # The relay went out in one step, so an echo would already be ahead of this pong.
    assert_alive(sender)
    sender.close()
    receiver.close()


def test_client_event_on_presence_carries_user_id(events_server: ServerProcess) -> None:
    channel = "presence-chat"
    sender = subscribed(events_server, channel, {"user_id": "alice"})
    receiver = subscribed(events_server, channel, {"user_id": "bob"})
    assert sender.recv()["event"] == "pusher_internal:member_added"
    sender.send("client-wave", {"hand": "left"}, channel=channel)
    assert receiver.recv() == {
        "event": "client-wave",
        "channel": channel,
        "data": {"hand": "left"},
        "user_id": "alice",
    }
    sender.close()
    receiver.close()


def test_client_events_disabled_by_default(start_server) -> None:
    plain = start_server()
    client = subscribed(plain, "private-quiet")
    client.send("client-hello", {}, channel="private-quiet")
    assert client.recv() == error(
        "Client event rejected - client events are not enabled for this app"
    )
    assert_alive(client)
    client.close()


@pytest.mark.parametrize("channel", ["public-chat", "private-encrypted-chat"])
def test_client_events_rejected_outside_private_and_presence(
    events_server: ServerProcess, channel: str
) -> None:
    options = {}
    if channel.startswith("private-encrypted-"):
        options["encryption_master_key_base64"] = base64.b64encode(b"k" * 32).decode()
    client = PusherClient.connect(events_server)
    if options:
        subscribe_signed(events_server, client, channel, **options)
    else:
        client.subscribe(channel)
    assert client.recv()["event"] == "pusher_internal:subscription_succeeded"
    client.send("client-hello", {}, channel=channel)
    assert client.recv() == error(
        "Client event rejected - only supported on private and presence channels"
    )
    assert_alive(client)
    client.close()


@pytest.mark.parametrize("channel", ["private-elsewhere", None])
def test_client_event_needs_a_subscription(events_server: ServerProcess, channel) -> None:
    client = PusherClient.connect(events_server)
    client.send("client-hello", {}, channel=channel)
    assert client.recv() == error(f"Not subscribed to channel {channel}")
    assert_alive(client)
    client.close()


def test_third_client_event_within_a_second_is_rate_limited(events_server: ServerProcess) -> None:
    sender = subscribed(events_server, "private-fast")
    receiver = subscribed(events_server, "private-fast")
    for n in range(3):
        sender.send("client-n", {"n": n}, channel="private-fast")
    assert sender.recv() == error("Client event rejected due to rate limit", 4301)
    assert receiver.recv()["data"] == {"n": 0}
    assert receiver.recv()["data"] == {"n": 1}
    assert_alive(sender)
    assert_alive(receiver)  # the third was not relayed
    sender.close()
    receiver.close()


def test_event_name_too_long(events_server: ServerProcess) -> None:
    client = subscribed(events_server, "private-names")
    client.send("client-" + "x" * 194, {}, channel="private-names")
    assert client.recv() == error("Event name too long")
    assert_alive(client)
    client.close()


def test_payload_too_large(events_server: ServerProcess) -> None:
    client = subscribed(events_server, "private-big")
    client.send("client-big", "x" * (10 * 1024 + 1), channel="private-big")
    assert client.recv() == error("Client event rejected - the data is too large")
    assert_alive(client)
    client.close()


def test_largest_allowed_client_event_is_relayed(events_server: ServerProcess) -> None:
    sender = subscribed(events_server, "private-edge")
    receiver = subscribed(events_server, "private-edge")
    name = "client-" + "y" * 193  # exactly 200 characters
    sender.send(name, "z" * (10 * 1024), channel="private-edge")
    assert receiver.recv() == {"event": name, "channel": "private-edge", "data": "z" * 10240}
    sender.close()
    receiver.close()
