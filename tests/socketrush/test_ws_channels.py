"""End-to-end: subscribing to public, private, encrypted and cache channels, subscription
counts, unsubscribing, and channel-name limits — exact frames over a real socket."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import nacl.secret
import pytest

from tests.support.client import PusherClient, assert_alive, sdk, subscribe_signed
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(30)

MASTER_KEY = base64.b64encode(bytes(range(32))).decode()


def succeeded(channel: str) -> dict:
    return {"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": {}}


@pytest.fixture(scope="module")
def counting_server() -> Iterator[ServerProcess]:
    with ServerProcess(args=["--app-subscription-count-enabled", "true"]) as proc:
        yield proc


def test_public_subscribe_then_event(server: ServerProcess) -> None:
    client = PusherClient.connect(server)
    client.subscribe("news")
    assert client.recv() == succeeded("news")
    assert sdk(server).trigger("news", "headline", {"title": "hi"}) == {}
    assert client.recv() == {"event": "headline", "channel": "news", "data": {"title": "hi"}}
    client.close()


def test_private_subscribe_with_good_auth(server: ServerProcess) -> None:
    client = PusherClient.connect(server)
    subscribe_signed(server, client, "private-room")
    assert client.recv() == succeeded("private-room")
    client.close()


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param("test-key:" + "0" * 64, id="wrong-signature"),
        pytest.param("other-key:" + "0" * 64, id="wrong-key"),
        pytest.param(None, id="missing"),
    ],
)
def test_private_subscribe_with_bad_auth(server: ServerProcess, auth: str | None) -> None:
    client = PusherClient.connect(server)
    client.subscribe("private-room", auth)
    assert client.recv() == {
        "event": "pusher:subscription_error",
        "channel": "private-room",
        "data": {
            "type": "AuthError",
            "error": "Invalid signature: the auth for this channel was not signed by the "
            "app's secret",
            "status": 401,
        },
    }
    assert_alive(client)
    client.close()


def test_auth_for_another_socket_is_refused(server: ServerProcess) -> None:
    owner = PusherClient.connect(server)
    thief = PusherClient.connect(server)
    auth = sdk(server).authenticate(channel="private-room", socket_id=owner.socket_id)
    thief.subscribe("private-room", auth["auth"])
    frame = thief.recv()
    assert frame["event"] == "pusher:subscription_error"
    assert frame["data"]["status"] == 401
    owner.close()
    thief.close()


def test_encrypted_channel_relays_sdk_event_unchanged(server: ServerProcess) -> None:
    channel = "private-encrypted-vault"
    client = PusherClient.connect(server)
    subscribe_signed(server, client, channel, encryption_master_key_base64=MASTER_KEY)
    assert client.recv() == succeeded(channel)

    encrypting = sdk(server, encryption_master_key_base64=MASTER_KEY)
    assert encrypting.trigger(channel, "secret", {"pin": 1234}) == {}
    frame = client.recv()
    assert frame["event"] == "secret"
    assert frame["channel"] == channel
    assert set(frame["data"]) == {"nonce", "ciphertext"}

    # What the client gets decrypts with the channel's shared secret to what was sent.
    shared = encrypting.authenticate(channel=channel, socket_id=client.socket_id)["shared_secret"]
    box = nacl.secret.SecretBox(base64.b64decode(shared))
    plaintext = box.decrypt(
        base64.b64decode(frame["data"]["ciphertext"]), base64.b64decode(frame["data"]["nonce"])
    )
    assert json.loads(plaintext) == {"pin": 1234}
    client.close()


def test_cache_channel_replays_last_event(server: ServerProcess) -> None:
    client = PusherClient.connect(server)
    assert sdk(server).trigger("cache-prices", "tick", {"n": 1}) == {}
    assert sdk(server).trigger("cache-prices", "tick", {"n": 2}) == {}
    client.subscribe("cache-prices")
    assert client.recv() == succeeded("cache-prices")
    assert client.recv() == {"event": "tick", "channel": "cache-prices", "data": {"n": 2}}
    client.close()


def test_cache_channel_never_published_is_a_cache_miss(server: ServerProcess) -> None:
    client = PusherClient.connect(server)
    client.subscribe("cache-empty")
    assert client.recv() == succeeded("cache-empty")
    assert client.recv() == {"event": "pusher:cache_miss", "channel": "cache-empty", "data": {}}
    client.close()


def test_subscription_count(counting_server: ServerProcess) -> None:
    def count(n: int) -> dict:
        return {
            "event": "pusher_internal:subscription_count",
            "channel": "counted",
            "data": {"subscription_count": n},
        }

    first = PusherClient.connect(counting_server)
    first.subscribe("counted")
    assert first.recv() == succeeded("counted")
    assert first.recv() == count(1)

    second = PusherClient.connect(counting_server)
    second.subscribe("counted")
    assert second.recv() == succeeded("counted")
    assert second.recv() == count(2)
    assert first.recv() == count(2)

    second.send("pusher:unsubscribe", {"channel": "counted"})
    assert first.recv() == count(1)
    assert_alive(second)
    first.close()
    second.close()


def test_no_subscription_count_unless_enabled(server: ServerProcess) -> None:
    client = PusherClient.connect(server)
    client.subscribe("uncounted")
    assert client.recv() == succeeded("uncounted")
    assert_alive(client)  # the next frame is the pong, not a count
    client.close()


def test_unsubscribe_stops_delivery(server: ServerProcess) -> None:
    leaver = PusherClient.connect(server)
    stayer = PusherClient.connect(server)
    for client in (leaver, stayer):
        client.subscribe("feed")
        assert client.recv() == succeeded("feed")
    leaver.send("pusher:unsubscribe", {"channel": "feed"})
    assert_alive(leaver)  # the unsubscribe has been read and passed on

    assert sdk(server).trigger("feed", "item", {"id": 1}) == {}
    assert stayer.recv() == {"event": "item", "channel": "feed", "data": {"id": 1}}
    # The broadcast reached every subscriber in one step, so an event for `leaver` would
    # already be ahead of this pong.
    assert_alive(leaver)
    leaver.close()
    stayer.close()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("x" * 201, "Channel name too long: " + "x" * 201, id="too-long"),
        pytest.param("bad channel!", "Invalid channel name: bad channel!", id="bad-characters"),
        pytest.param("", "Invalid channel name: ", id="empty"),
    ],
)
def test_bad_channel_name_is_an_error_without_closing(
    server: ServerProcess, name: str, message: str
) -> None:
    client = PusherClient.connect(server)
    client.subscribe(name)
    assert client.recv() == {"event": "pusher:error", "data": {"code": None, "message": message}}
    assert_alive(client)
    client.close()


def test_channel_name_at_the_limit_is_accepted(server: ServerProcess) -> None:
    client = PusherClient.connect(server)
    name = "y" * 200
    client.subscribe(name)
    assert client.recv() == succeeded(name)
    client.close()
