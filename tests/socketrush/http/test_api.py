"""The Pusher HTTP API end to end: a real server process, real WebSocket subscribers, and
requests from the official `pusher` SDK or, for bad input the SDK refuses to send, signed by
hand with `urllib`."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.client import ConnectionClosed, PusherClient, sdk
from tests.support.http_api import EVENTS, VALID_EVENT, post_event, send, signed, signed_query
from tests.support.server import APP_ID, ServerProcess

# -- helpers --


def recv_raw(client: PusherClient) -> dict[str, Any]:
    """The next frame with `data` left exactly as the server sent it."""
    client.ws.settimeout(client.timeout)
    return json.loads(client.ws.recv())


@pytest.fixture
def connect(server: ServerProcess) -> Iterator[Callable[[], PusherClient]]:
    """Open clients on the module's server; all are closed after the test."""
    opened: list[PusherClient] = []

    def factory() -> PusherClient:
        client = PusherClient.connect(server)
        opened.append(client)
        return client

    yield factory
    for client in opened:
        client.close()


def subscribed(connect: Callable[[], PusherClient], channel: str) -> PusherClient:
    client = connect()
    client.subscribe(channel)
    client.recv_event("pusher_internal:subscription_succeeded")
    return client


def joined(
    server: ServerProcess, connect: Callable[[], PusherClient], channel: str, user_id: str
) -> PusherClient:
    """A client subscribed to a presence channel as `user_id`."""
    client = connect()
    auth = sdk(server).authenticate(channel, client.socket_id, {"user_id": user_id})
    client.subscribe(channel, auth["auth"], auth["channel_data"])
    client.recv_event("pusher_internal:subscription_succeeded")
    return client


def signed_in(
    server: ServerProcess, connect: Callable[[], PusherClient], user_id: str
) -> PusherClient:
    client = connect()
    auth = sdk(server).authenticate_user(client.socket_id, {"id": user_id})
    client.send("pusher:signin", {"auth": auth["auth"], "user_data": auth["user_data"]})
    client.recv_event("pusher:signin_success")
    return client


def assert_still_open(client: PusherClient) -> None:
    client.send("pusher:ping")
    assert client.recv() == {"event": "pusher:pong", "data": {}}


# -- POST /apps/{id}/events --


def test_sdk_trigger_delivers_exact_data_to_each_channel(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    first = subscribed(connect, "trigger-a")
    second = subscribed(connect, "trigger-b")
    assert sdk(server).trigger(["trigger-a", "trigger-b"], "greet", '{"hello":"world"}') == {}
    expected = {"event": "greet", "data": '{"hello":"world"}'}
    assert recv_raw(first) == {**expected, "channel": "trigger-a"}
    assert recv_raw(second) == {**expected, "channel": "trigger-b"}


def test_single_channel_field_is_accepted(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    client = subscribed(connect, "single")
    status, body = post_event(server, {"name": "one", "channel": "single", "data": "plain text"})
    assert (status, body) == (200, {})
    assert recv_raw(client) == {"event": "one", "channel": "single", "data": "plain text"}


def test_socket_id_excludes_only_that_socket(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    excluded = subscribed(connect, "exclusion")
    other = subscribed(connect, "exclusion")
    assert sdk(server).trigger("exclusion", "news", "x", socket_id=excluded.socket_id) == {}
    assert recv_raw(other) == {"event": "news", "channel": "exclusion", "data": "x"}
    excluded.assert_silent()


def test_trigger_info_returns_exact_counts(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    for _ in range(2):
        subscribed(connect, "info-public")
    for user_id in ("u1", "u1", "u2"):  # u1 on two sockets: 3 subscriptions, 2 users
        joined(server, connect, "presence-info", user_id)
    event = {
        "name": "counted",
        "channels": ["info-public", "presence-info", "info-empty"],
        "data": "{}",
        "info": "subscription_count,user_count",
    }
    assert post_event(server, event) == (
        200,
        {
            "channels": {
                "info-public": {"subscription_count": 2},
                "presence-info": {"subscription_count": 3, "user_count": 2},
                "info-empty": {"subscription_count": 0},
            }
        },
    )


# -- POST /apps/{id}/batch_events --


def test_batch_events_deliver_and_report_info_per_event(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    public = subscribed(connect, "batch-public")
    presence = joined(server, connect, "presence-batch", "b1")
    result = sdk(server).trigger_batch(
        [
            {"channel": "batch-public", "name": "e1", "data": "one", "info": "subscription_count"},
            {"channel": "presence-batch", "name": "e2", "data": "two", "info": "user_count"},
            {"channel": "batch-public", "name": "e3", "data": "three"},
        ]
    )
    assert result == {"batch": [{"subscription_count": 1}, {"user_count": 1}, {}]}
    assert recv_raw(public) == {"event": "e1", "channel": "batch-public", "data": "one"}
    assert recv_raw(public) == {"event": "e3", "channel": "batch-public", "data": "three"}
    assert recv_raw(presence) == {"event": "e2", "channel": "presence-batch", "data": "two"}


def test_batch_without_info_answers_empty_object(server: ServerProcess) -> None:
    batch = [{"channel": "batch-quiet", "name": "e", "data": "d"}]
    assert sdk(server).trigger_batch(batch) == {}


# -- GET /apps/{id}/channels --


def test_channels_filtered_by_prefix(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    subscribed(connect, "list-a")
    subscribed(connect, "list-b")
    subscribed(connect, "unlisted")
    result = sdk(server).channels_info(prefix_filter="list-")
    assert result == {"channels": {"list-a": {}, "list-b": {}}}


def test_presence_channels_with_user_count(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    for user_id in ("p1", "p1", "p2"):
        joined(server, connect, "presence-list-room", user_id)
    result = sdk(server).channels_info(prefix_filter="presence-list-", attributes=["user_count"])
    assert result == {"channels": {"presence-list-room": {"user_count": 2}}}


def test_user_count_without_presence_prefix_is_rejected(server: ServerProcess) -> None:
    assert signed(server, "GET", f"/apps/{APP_ID}/channels", params={"info": "user_count"}) == (
        400,
        {"error": "info=user_count requires filter_by_prefix=presence-"},
    )


# -- GET /apps/{id}/channels/{name} and .../users --


def test_channel_info_of_public_channel(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    subscribed(connect, "ci-public")
    subscribed(connect, "ci-public")
    result = sdk(server).channel_info("ci-public", ["subscription_count"])
    assert result == {"occupied": True, "subscription_count": 2}


def test_channel_info_of_presence_channel(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    for user_id in ("c1", "c2", "c2"):
        joined(server, connect, "presence-ci", user_id)
    result = sdk(server).channel_info("presence-ci", ["user_count", "subscription_count"])
    assert result == {"occupied": True, "user_count": 2, "subscription_count": 3}


def test_channel_info_of_unoccupied_channel(server: ServerProcess) -> None:
    assert sdk(server).channel_info("ci-nobody") == {"occupied": False}


def test_channel_info_user_count_needs_presence(server: ServerProcess) -> None:
    path = f"/apps/{APP_ID}/channels/ci-public"
    assert signed(server, "GET", path, params={"info": "user_count"}) == (
        400,
        {"error": "info=user_count is only available for presence channels"},
    )


def test_channel_info_of_cache_channel_holds_last_event(server: ServerProcess) -> None:
    client = sdk(server)
    client.trigger("cache-ci", "old", "first")
    client.trigger("cache-ci", "snapshot", "latest")
    result = client.channel_info("cache-ci", ["cache"])
    ttl = result["cache"].pop("ttl")
    assert result == {"occupied": False, "cache": {"event": "snapshot", "data": "latest"}}
    assert 1790 <= ttl <= 1800  # 30 minutes, minus the time this test took


def test_presence_users(server: ServerProcess, connect: Callable[[], PusherClient]) -> None:
    for user_id in ("alice", "bob", "alice"):
        joined(server, connect, "presence-users", user_id)
    result = sdk(server).users_info("presence-users")
    assert sorted(result["users"], key=lambda user: user["id"]) == [
        {"id": "alice"},
        {"id": "bob"},
    ]


def test_users_of_non_presence_channel_are_rejected(server: ServerProcess) -> None:
    path = f"/apps/{APP_ID}/channels/not-presence/users"
    assert signed(server, "GET", path) == (
        400,
        {"error": "Users can only be listed for presence channels"},
    )


# -- users: terminate_connections and send_to_user --


def _assert_terminated(client: PusherClient) -> None:
    assert client.recv() == {
        "event": "pusher:error",
        "data": {"code": 4009, "message": "Connection terminated by the app"},
    }
    with pytest.raises(ConnectionClosed) as closed:
        client.recv()
    assert closed.value.code == 4009


def test_terminate_connections_closes_every_socket_of_that_user(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    targets = [signed_in(server, connect, "term-1") for _ in range(2)]
    bystander = signed_in(server, connect, "term-2")
    path = f"/apps/{APP_ID}/users/term-1/terminate_connections"
    assert signed(server, "POST", path, b"{}") == (200, {})
    for target in targets:
        _assert_terminated(target)
    assert_still_open(bystander)


def test_sdk_terminate_user_connections(
    server: ServerProcess, connect: Callable[[], PusherClient]
) -> None:
    """The Python SDK posts to /users/{id}/terminate_connections, without /apps/{id}."""
    target = signed_in(server, connect, "term-sdk")
    assert sdk(server).terminate_user_connections("term-sdk") == {}
    _assert_terminated(target)


def test_terminate_without_app_id_needs_a_known_key(server: ServerProcess) -> None:
    status, body = signed(server, "POST", "/users/u/terminate_connections", b"{}", key="nobody")
    assert (status, body) == (401, {"error": "auth_key does not match any app's key"})


def test_sdk_send_to_user(server: ServerProcess, connect: Callable[[], PusherClient]) -> None:
    target = signed_in(server, connect, "stu-1")
    other = signed_in(server, connect, "stu-2")
    assert sdk(server).send_to_user("stu-1", "note", {"a": 1}) == {}
    assert recv_raw(target) == {
        "event": "note",
        "channel": "#server-to-user-stu-1",
        "data": '{"a": 1}',
    }
    other.assert_silent()


# -- signing: Pusher's worked example --

GOLDEN_KEY = "278d425bdf160c739803"
GOLDEN_SECRET = "7ad3773142a6692b25b8"
GOLDEN_BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
GOLDEN_QUERY = {
    "auth_key": GOLDEN_KEY,
    "auth_timestamp": "1353088179",
    "auth_version": "1.0",
    "body_md5": "ec365a775a4cd0599faeb73354201b6f",
    "auth_signature": "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
}


def test_golden_example_is_refused_as_stale_and_accepted_re_signed(
    start_server: Callable,
) -> None:
    """The example's signature is valid, but it was made in 2012: its timestamp is far
    outside the ±600 s replay window, so the server must refuse it with 401. The same
    request signed now passes every check."""
    golden = start_server(
        "--app-id", "3", "--app-key", GOLDEN_KEY, "--app-secret", GOLDEN_SECRET, default_app=False
    )
    status, body = send(golden, "POST", "/apps/3/events", GOLDEN_QUERY, GOLDEN_BODY)
    assert status == 401
    assert body["error"].startswith(
        "Timestamp expired: given timestamp (1353088179) not within 600s of server time ("
    )
    resigned = signed(
        golden, "POST", "/apps/3/events", GOLDEN_BODY, key=GOLDEN_KEY, secret=GOLDEN_SECRET
    )
    assert resigned == (200, {})


# -- errors --

VALID = VALID_EVENT


def test_unknown_app_id(server: ServerProcess) -> None:
    status, body = signed(server, "POST", "/apps/999/events", json.dumps(VALID).encode())
    assert (status, body) == (404, {"error": "Unknown app id 999"})


def test_bad_signature(server: ServerProcess) -> None:
    body = json.dumps(VALID).encode()
    status, answer = signed(server, "POST", EVENTS, body, secret="not-the-secret")
    assert status == 401
    assert answer["error"].startswith(
        "Invalid signature: expected the HMAC-SHA256 hex digest of 'POST\\n/apps/424242/events\\n"
        "auth_key=test-key&auth_timestamp="
    )


def test_wrong_auth_key(server: ServerProcess) -> None:
    assert post_event(server, VALID, key="other-key") == (
        401,
        {"error": "auth_key does not match the app's key"},
    )


@pytest.mark.parametrize("skew", [-601, 601])
def test_timestamp_outside_window(server: ServerProcess, skew: int) -> None:
    timestamp = int(time.time()) + skew
    status, body = post_event(server, VALID, timestamp=timestamp)
    assert status == 401
    assert body["error"].startswith(
        f"Timestamp expired: given timestamp ({timestamp}) not within 600s of server time ("
    )


@pytest.mark.parametrize("skew", [-590, 590])
def test_timestamp_inside_window(server: ServerProcess, skew: int) -> None:
    assert post_event(server, VALID, timestamp=int(time.time()) + skew) == (200, {})


def test_body_md5_mismatch(server: ServerProcess) -> None:
    assert post_event(server, VALID, body_md5="0" * 32) == (
        401,
        {"error": "body_md5 does not match the request body"},
    )


def test_body_too_large(server: ServerProcess) -> None:
    status, body = signed(server, "POST", EVENTS, b" " * (2 * 1024 * 1024))
    # The limit is a full batch of full payloads, doubled, plus 64 KB: (10 * 10 * 2 + 64) KB.
    assert (status, body) == (413, {"error": "Request body is larger than 270336 bytes"})


def test_chunked_body_too_large(server: ServerProcess) -> None:
    """Without a Content-Length the limit can only be found while reading."""
    body = b" " * (1024 * 1024)
    query = signed_query("POST", EVENTS, body)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    chunks = (body[start : start + 65536] for start in range(0, len(body), 65536))
    try:
        connection.request(
            "POST", f"{EVENTS}?{urllib.parse.urlencode(query)}", chunks, encode_chunked=True
        )
        response = connection.getresponse()
        answer = (response.status, json.loads(response.read()))
    finally:
        connection.close()
    assert answer == (413, {"error": "Request body is larger than 270336 bytes"})


def test_payload_over_limit(server: ServerProcess) -> None:
    event = {**VALID, "data": "x" * (10 * 1024 + 1)}
    assert post_event(server, event) == (413, {"error": "Event data is larger than 10 KB"})


def test_payload_at_limit_is_accepted(server: ServerProcess) -> None:
    assert post_event(server, {**VALID, "data": "x" * 10 * 1024}) == (200, {})


def test_invalid_json(server: ServerProcess) -> None:
    status, body = signed(server, "POST", EVENTS, b'{"name": "e",')
    assert status == 400
    assert body["error"].startswith("Body is not valid JSON: ")


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"channel": "errors", "data": "d"}, "name is required and must be a string"),
        (
            {"name": "e", "channels": [f"c{i}" for i in range(11)], "data": "d"},
            "An event can be triggered on at most 10 channels",
        ),
        ({"name": "e", "channel": "bad name!", "data": "d"}, "Invalid channel name: bad name!"),
        ({"name": "e", "channel": "errors"}, "data is required"),
        ({**VALID, "socket_id": "not-a-socket"}, "Invalid socket_id"),
    ],
    ids=["missing-name", "too-many-channels", "bad-channel-name", "missing-data", "socket-id"],
)
def test_bad_event(server: ServerProcess, event: dict[str, Any], error: str) -> None:
    assert post_event(server, event) == (400, {"error": error})


@pytest.mark.parametrize(
    ("batch", "error"),
    [
        ([VALID] * 11, "Batch has 11 events, at most 10 allowed"),
        ([VALID, {**VALID, "channel": "bad name!"}], "batch[1]: Invalid channel name: bad name!"),
    ],
    ids=["too-many-events", "bad-second-event"],
)
def test_bad_batch(server: ServerProcess, batch: list[dict[str, Any]], error: str) -> None:
    body = json.dumps({"batch": batch}).encode()
    assert signed(server, "POST", f"/apps/{APP_ID}/batch_events", body) == (
        400,
        {"error": error},
    )


def test_unsigned_request(server: ServerProcess) -> None:
    assert send(server, "GET", f"/apps/{APP_ID}/channels", {}, None) == (
        401,
        {"error": "Missing auth_key query parameter"},
    )


def test_disabled_app(start_server: Callable, tmp_path: Path) -> None:
    config = tmp_path / "apps.json"
    app = {"app_id": "77", "app_key": "off-key", "app_secret": "off-secret", "app_enabled": False}
    config.write_text(json.dumps({"applications": [app]}))
    disabled = start_server("--config-file", str(config), default_app=False)
    body = json.dumps(VALID).encode()
    status, answer = signed(
        disabled, "POST", "/apps/77/events", body, key="off-key", secret="off-secret"
    )
    assert (status, answer) == (403, {"error": "App is disabled"})


def _three_in_one_second(request: Callable[[], tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Three requests that the server's fixed one-second window saw together.

    The limiter's window is the integer part of the monotonic clock, which this process
    shares with the server; a try that straddled a window boundary is simply repeated.
    """
    for _ in range(5):
        started = time.monotonic()
        answers = [request() for _ in range(3)]
        if int(started) == int(time.monotonic()):
            return answers
    raise AssertionError("could not fit three requests into one second")


def test_backend_event_rate_limit(start_server: Callable) -> None:
    limited = start_server("--app-max-backend-events-per-second", "2")
    answers = _three_in_one_second(lambda: post_event(limited, VALID))
    assert answers == [
        (200, {}),
        (200, {}),
        (429, {"error": "Rate limit exceeded: too many backend events per second"}),
    ]


def test_read_request_rate_limit(start_server: Callable) -> None:
    limited = start_server("--app-max-read-requests-per-second", "2")
    answers = _three_in_one_second(lambda: signed(limited, "GET", f"/apps/{APP_ID}/channels"))
    assert answers == [
        (200, {"channels": {}}),
        (200, {"channels": {}}),
        (429, {"error": "Rate limit exceeded: too many read requests per second"}),
    ]
