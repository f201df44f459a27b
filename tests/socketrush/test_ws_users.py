"""End-to-end: user authentication — pusher:signin, sending to a user, watchlists, and
terminating a user's connections through the official SDK."""

from __future__ import annotations

import json
import urllib.request

import pytest

from socketrush.protocol.signatures import hmac_sha256_hex
from tests.support.client import (
    PusherClient,
    assert_alive,
    expect_close,
    sdk,
    sign_in,
)
from tests.support.polling import wait_until
from tests.support.server import APP_KEY, APP_SECRET, ServerProcess

pytestmark = pytest.mark.timeout(30)


def signed_in(server: ServerProcess, user: dict) -> PusherClient:
    client = PusherClient.connect(server)
    auth = sign_in(server, client, user)
    assert client.recv() == {
        "event": "pusher:signin_success",
        "data": {"user_data": auth["user_data"]},
    }
    return client


def signed_by_hand(client: PusherClient, user: dict) -> None:
    """Send `pusher:signin` for `user`, signed with the app's secret without the SDK's checks."""
    user_data = json.dumps(user)
    signature = hmac_sha256_hex(APP_SECRET, f"{client.socket_id}::user::{user_data}")
    client.send("pusher:signin", {"user_data": user_data, "auth": f"{APP_KEY}:{signature}"})


def watchlist_event(name: str, user_ids: list[str]) -> dict:
    return {
        "event": "pusher_internal:watchlist_events",
        "data": {"events": [{"name": name, "user_ids": user_ids}]},
    }


def test_signin_success_echoes_user_data(server: ServerProcess) -> None:
    client = signed_in(server, {"id": "u-echo", "user_info": {"name": "Echo"}})
    assert_alive(client)
    client.close()


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda auth: {**auth, "auth": auth["auth"][:-4] + "0000"}, id="signature"),
        pytest.param(lambda auth: {**auth, "user_data": '{"id":"admin"}'}, id="user-data"),
        pytest.param(lambda auth: {"user_data": auth["user_data"]}, id="missing-auth"),
    ],
)
def test_signin_with_bad_auth_is_closed_with_4009(server: ServerProcess, tamper) -> None:
    client = PusherClient.connect(server)
    bystander = PusherClient.connect(server)
    auth = sdk(server).authenticate_user(client.socket_id, {"id": "u-bad"})
    client.send("pusher:signin", tamper(auth))
    assert expect_close(client) == (
        {
            "event": "pusher:error",
            "data": {"code": 4009, "message": "Invalid signature for pusher:signin"},
        },
        4009,
    )
    assert_alive(bystander)
    client.close()
    bystander.close()


@pytest.mark.parametrize(
    "user", [{"name": "no id"}, {"id": 42}, {"id": ""}], ids=["no-id", "numeric-id", "empty-id"]
)
def test_signin_with_signed_user_data_without_a_string_id_is_closed_with_4009(
    server: ServerProcess, user: dict
) -> None:
    client = PusherClient.connect(server)
    signed_by_hand(client, user)  # the SDK refuses to sign these
    assert expect_close(client) == (
        {
            "event": "pusher:error",
            "data": {"code": 4009, "message": "user_data must be JSON with a string id"},
        },
        4009,
    )
    client.close()


def test_signin_with_user_data_over_the_presence_member_limit_is_closed_with_4009(
    server: ServerProcess,
) -> None:
    """Signed or not, 100 KB of user data is refused before anything keeps it (the limit is
    max_presence_member_size_in_kb, 10 KB by default); 10 KB exactly is accepted."""
    client = PusherClient.connect(server)
    signed_by_hand(client, {"id": "u" * 100_000})  # the SDK refuses ids this long
    assert expect_close(client) == (
        {
            "event": "pusher:error",
            "data": {"code": 4009, "message": "user_data is larger than 10 KB"},
        },
        4009,
    )
    client.close()
    at_limit = PusherClient.connect(server)
    user = {"id": "u-limit", "user_info": {"pad": ""}}
    user["user_info"]["pad"] = "p" * (10 * 1024 - len(json.dumps(user)))
    auth = sign_in(server, at_limit, user)
    assert len(auth["user_data"].encode()) == 10 * 1024
    assert at_limit.recv()["event"] == "pusher:signin_success"
    at_limit.close()


def test_signin_twice_is_an_error(server: ServerProcess) -> None:
    client = signed_in(server, {"id": "u-twice"})
    sign_in(server, client, {"id": "u-twice"})
    assert client.recv() == {
        "event": "pusher:error",
        "data": {"code": None, "message": "This connection is already signed in"},
    }
    client.close()


def test_send_to_user_reaches_all_its_sockets_and_no_one_else(server: ServerProcess) -> None:
    phone = signed_in(server, {"id": "u-send"})
    laptop = signed_in(server, {"id": "u-send"})
    stranger = signed_in(server, {"id": "u-other"})
    anonymous = PusherClient.connect(server)

    assert sdk(server).send_to_user("u-send", "notice", {"text": "hi"}) == {}
    expected = {"event": "notice", "channel": "#server-to-user-u-send", "data": {"text": "hi"}}
    assert phone.recv() == expected
    assert laptop.recv() == expected
    # Delivery to all of the user's sockets happened in one step; anything for the others
    # would be ahead of their pongs.
    assert_alive(stranger)
    assert_alive(anonymous)
    for client in (phone, laptop, stranger, anonymous):
        client.close()


def connections(server: ServerProcess) -> int:
    with urllib.request.urlopen(server.http_url + "/usage", timeout=5) as response:
        return json.loads(response.read())["connections"]


def test_a_user_s_channel_announces_no_subscription_count(start_server) -> None:
    """With subscription counts on, a user's socket leaving its server-to-user channel (an
    internal channel) tells the user's other sockets nothing."""
    server = start_server("--app-subscription-count-enabled", "true")
    phone = signed_in(server, {"id": "u-count"})
    laptop = signed_in(server, {"id": "u-count"})
    laptop.close()
    wait_until(lambda: connections(server) == 1, 5, lambda: "the laptop is still connected")
    # The app told the channel the laptop left before this event: a count would come first.
    assert sdk(server).send_to_user("u-count", "notice", {"text": "hi"}) == {}
    assert phone.recv() == {
        "event": "notice",
        "channel": "#server-to-user-u-count",
        "data": {"text": "hi"},
    }
    phone.close()


def test_watchlist_online_and_offline(server: ServerProcess) -> None:
    early = signed_in(server, {"id": "w-early"})
    watcher = PusherClient.connect(server)
    auth = sign_in(server, watcher, {"id": "w-watcher", "watchlist": ["w-early", "w-late"]})
    assert watcher.recv() == {
        "event": "pusher:signin_success",
        "data": {"user_data": auth["user_data"]},
    }
    assert watcher.recv() == watchlist_event("online", ["w-early"])

    late = signed_in(server, {"id": "w-late"})
    assert watcher.recv() == watchlist_event("online", ["w-late"])
    late_again = signed_in(server, {"id": "w-late"})  # a second socket is not news

    late.close()
    late_again.close()
    assert watcher.recv() == watchlist_event("offline", ["w-late"])  # once, after the last
    early.close()
    assert watcher.recv() == watchlist_event("offline", ["w-early"])
    assert_alive(watcher)
    watcher.close()


def test_terminate_user_connections_closes_all_its_sockets(server: ServerProcess) -> None:
    first = signed_in(server, {"id": "u-bye"})
    second = signed_in(server, {"id": "u-bye"})
    bystander = signed_in(server, {"id": "u-stay"})

    assert sdk(server).terminate_user_connections("u-bye") == {}
    for client in (first, second):
        error, code = expect_close(client)
        assert error == {
            "event": "pusher:error",
            "data": {"code": 4009, "message": "Connection terminated by the app"},
        }
        assert code == 4009
    assert_alive(bystander)
    bystander.close()


def test_only_the_signed_in_user_may_subscribe_to_its_channel(server: ServerProcess) -> None:
    owner = signed_in(server, {"id": "u-own"})
    owner.subscribe("#server-to-user-u-own")
    assert owner.recv() == {
        "event": "pusher_internal:subscription_succeeded",
        "channel": "#server-to-user-u-own",
        "data": {},
    }
    intruder = PusherClient.connect(server)
    intruder.subscribe("#server-to-user-u-own")
    assert intruder.recv() == {
        "event": "pusher:subscription_error",
        "channel": "#server-to-user-u-own",
        "data": {
            "type": "AuthError",
            "error": "Only the signed-in user may subscribe to its own channel",
            "status": 403,
        },
    }
    owner.close()
    intruder.close()
