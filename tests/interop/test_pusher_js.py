"""The official pusher-js client (Node) against a real Socket Rush server.

Each test is one scenario: the Python side sends commands to driver.js and awaits exact
observations; events come from the official `pusher` Python SDK over the HTTP API and auth
signatures from the same SDK behind a real HTTP auth endpoint.
"""

from __future__ import annotations

import re

import pusher
import pytest

from tests.interop.node_driver import NodeDriver, ObservationTimeout
from tests.support.auth_endpoint import (
    CHANNEL_AUTH_PATH,
    FORGED_CHANNEL_AUTH_PATH,
    FORGED_USER_AUTH_PATH,
    USER_AUTH_PATH,
    AuthEndpoint,
)

pytestmark = pytest.mark.timeout(60)

SUBSCRIBED = "pusher:subscription_succeeded"


def connect(
    driver: NodeDriver,
    endpoint: AuthEndpoint,
    client: str,
    *,
    user: str = "",
    watchlist: str = "",
    channel_auth_path: str = CHANNEL_AUTH_PATH,
    user_auth_path: str = USER_AUTH_PATH,
) -> str:
    """Start a Pusher instance named `client`; return its socket_id once connected."""
    driver.send(
        "connect",
        client=client,
        channelAuth=endpoint.url(channel_auth_path),
        userAuth=endpoint.url(user_auth_path),
        params={"user_id": user, "user_name": user.title(), "watchlist": watchlist},
    )
    return driver.expect(client=client, source="connection", event="connected")["data"]["socket_id"]


def subscribe(driver: NodeDriver, client: str, channel: str) -> dict:
    """Subscribe and return the observation of pusher-js's subscription_succeeded."""
    driver.send("subscribe", client=client, channel=channel)
    return driver.expect(client=client, source="channel", event=SUBSCRIBED, channel=channel)


def test_connect_reaches_connected_with_a_pusher_socket_id(
    driver: NodeDriver, auth_endpoint: AuthEndpoint
) -> None:
    socket_id = connect(driver, auth_endpoint, "a")

    assert re.fullmatch(r"\d+\.\d+", socket_id)
    states = [o["data"] for o in driver.observed(client="a", event="state_change")]
    assert states == [{"previous": "connecting", "current": "connected"}]


def test_public_event_from_the_python_sdk_arrives_with_exact_data(
    driver: NodeDriver, auth_endpoint: AuthEndpoint, sdk: pusher.Pusher
) -> None:
    connect(driver, auth_endpoint, "a")
    subscribe(driver, "a", "news")

    sdk.trigger("news", "headline", {"title": "Grüße", "count": 3, "tags": ["a", "b"]})

    event = driver.expect(client="a", source="channel", event="headline", channel="news")
    assert event["data"] == {"title": "Grüße", "count": 3, "tags": ["a", "b"]}


def test_private_subscription_authorized_by_the_sdk_succeeds(
    driver: NodeDriver, auth_endpoint: AuthEndpoint
) -> None:
    connect(driver, auth_endpoint, "a")

    succeeded = subscribe(driver, "a", "private-orders")

    assert succeeded["data"] == {}
    assert driver.observed(client="a", event="pusher:subscription_error") == []


def test_private_subscription_with_a_forged_signature_is_refused(
    driver: NodeDriver, auth_endpoint: AuthEndpoint
) -> None:
    connect(driver, auth_endpoint, "a", channel_auth_path=FORGED_CHANNEL_AUTH_PATH)
    driver.send("subscribe", client="a", channel="private-orders")

    frame = driver.expect(client="a", source="frame", event="pusher:subscription_error")
    surfaced = driver.expect(client="a", source="channel", event="pusher:subscription_error")

    expected = {
        "type": "AuthError",
        "error": "Invalid signature: the auth for this channel was not signed by the app's secret",
        "status": 401,
    }
    assert frame["channel"] == "private-orders"
    assert frame["data"] == expected
    assert surfaced["data"] == expected
    assert driver.observed(client="a", event=SUBSCRIBED) == []


def test_presence_members_join_and_leave(driver: NodeDriver, auth_endpoint: AuthEndpoint) -> None:
    connect(driver, auth_endpoint, "a", user="alice")
    connect(driver, auth_endpoint, "b", user="bob")
    alice_joined = subscribe(driver, "a", "presence-room")

    bob_joined = subscribe(driver, "b", "presence-room")
    added = driver.expect(client="a", source="channel", event="pusher:member_added")

    alice, bob = {"name": "Alice"}, {"name": "Bob"}
    assert alice_joined["data"] == {
        "count": 1,
        "me": {"id": "alice", "info": alice},
        "members": {"alice": alice},
    }
    assert bob_joined["data"] == {
        "count": 2,
        "me": {"id": "bob", "info": bob},
        "members": {"alice": alice, "bob": bob},
    }
    assert added["data"] == {"id": "bob", "info": bob}
    driver.send("members", client="a", channel="presence-room")
    assert driver.expect(client="a", event="members")["data"]["count"] == 2

    driver.send("disconnect", client="b")

    removed = driver.expect(client="a", source="channel", event="pusher:member_removed")
    assert removed["data"] == {"id": "bob", "info": bob}
    driver.send("members", client="a", channel="presence-room")
    assert driver.expect(client="a", event="members")["data"] == {
        "count": 1,
        "me": {"id": "alice", "info": alice},
        "members": {"alice": alice},
    }


def test_encrypted_channel_event_is_decrypted_by_pusher_js(
    driver: NodeDriver, auth_endpoint: AuthEndpoint, sdk: pusher.Pusher
) -> None:
    connect(driver, auth_endpoint, "a")
    subscribe(driver, "a", "private-encrypted-x")

    sdk.trigger("private-encrypted-x", "secret", {"pin": "0451", "note": "ünïcode"})

    frame = driver.expect(client="a", source="frame", event="secret")
    event = driver.expect(client="a", source="channel", event="secret")
    assert sorted(frame["data"]) == ["ciphertext", "nonce"]  # the server relays ciphertext
    assert event["data"] == {"pin": "0451", "note": "ünïcode"}


def test_client_event_reaches_other_subscribers_but_not_the_sender(
    driver: NodeDriver, auth_endpoint: AuthEndpoint, sdk: pusher.Pusher
) -> None:
    connect(driver, auth_endpoint, "a")
    connect(driver, auth_endpoint, "b")
    subscribe(driver, "a", "private-chat")
    subscribe(driver, "b", "private-chat")

    driver.send(
        "trigger", client="a", channel="private-chat", event="client-typing", data={"on": 1}
    )

    assert driver.expect(client="a", event="triggered")["data"] == {
        "event": "client-typing",
        "sent": True,
    }
    received = driver.expect(client="b", source="channel", event="client-typing")
    assert received["data"] == {"on": 1}
    # Frames to one socket keep their order: once A sees a later server event, an echo of its
    # own client event would already have arrived.
    sdk.trigger("private-chat", "marker", {})
    driver.expect(client="a", source="channel", event="marker")
    assert driver.observed(client="a", event="client-typing") == []


def test_signin_then_send_to_user_reaches_the_user(
    driver: NodeDriver, auth_endpoint: AuthEndpoint, sdk: pusher.Pusher
) -> None:
    connect(driver, auth_endpoint, "a", user="alice", watchlist="bob,carol")

    driver.send("signin", client="a")

    success = driver.expect(client="a", source="frame", event="pusher:signin_success")
    done = driver.expect(client="a", event="signin_done")
    user_data = {"id": "alice", "user_info": {"name": "Alice"}, "watchlist": ["bob", "carol"]}
    assert done["data"] == {"user_data": user_data}
    assert success["data"]["user_data"] == (
        '{"id": "alice", "user_info": {"name": "Alice"}, "watchlist": ["bob", "carol"]}'
    )

    sdk.send_to_user("alice", "notice", {"text": "hello alice"})

    notice = driver.expect(client="a", source="user", event="notice")
    assert notice["data"] == {"text": "hello alice"}
    # After signin_success pusher-js itself subscribes to "#server-to-user-alice" (empty auth);
    # the server must accept that for the signed-in user rather than answer with an error.
    assert [o["data"] for o in driver.observed(client="a", event="pusher:error")] == []


def test_watchlist_reports_a_watched_user_online_then_offline(
    driver: NodeDriver, auth_endpoint: AuthEndpoint
) -> None:
    connect(driver, auth_endpoint, "a", user="alice", watchlist="bob")
    driver.send("signin", client="a")
    driver.expect(client="a", event="signin_done")
    connect(driver, auth_endpoint, "b", user="bob")

    driver.send("signin", client="b")

    online = driver.expect(client="a", source="watchlist", event="online")
    assert online["data"] == {"name": "online", "user_ids": ["bob"]}
    driver.send("disconnect", client="b")
    offline = driver.expect(client="a", source="watchlist", event="offline")
    assert offline["data"] == {"name": "offline", "user_ids": ["bob"]}


def test_a_forged_signin_is_refused_with_4009_and_pusher_js_does_not_reconnect(
    driver: NodeDriver, auth_endpoint: AuthEndpoint
) -> None:
    connect(driver, auth_endpoint, "a", user="mallory", user_auth_path=FORGED_USER_AUTH_PATH)

    driver.send("signin", client="a")

    error = driver.expect(client="a", source="frame", event="pusher:error")
    assert error["data"] == {"code": 4009, "message": "Invalid signature for pusher:signin"}
    closed = {"previous": "connected", "current": "disconnected"}
    driver.expect(client="a", source="connection", event="state_change", data=closed)
    assert driver.expect(client="a", event="signin_done")["data"] == {"user_data": None}
    # 4000-4099 means "do not reconnect unchanged": pusher-js stays disconnected (a retry
    # would come at once, a backoff after one second).
    reconnecting = {"previous": "disconnected", "current": "connecting"}
    with pytest.raises(ObservationTimeout):
        driver.expect(timeout=2.5, client="a", event="state_change", data=reconnecting)
    states = [o["data"]["current"] for o in driver.observed(client="a", event="state_change")]
    assert states == ["connected", "disconnected"]
