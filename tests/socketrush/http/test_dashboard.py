"""The dashboard's HTTP side and debug channel end to end: a real server, real WebSocket
clients, a real webhook receiver.

Who gets in (Basic login, session cookie, 401 without details otherwise), that nothing the
dashboard answers holds the app secret, the event creator's path, and the debug console's
records as a page's socket receives them over the debug channel.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from loadtests.certificates import make_certificate
from socketrush.dashboard.feed import DEBUG_AUTH_REFUSED
from socketrush.dashboard.hub import DEBUG_CHANNEL
from socketrush.protocol.errors import Err
from tests.support.client import PusherClient, subscribe_signed
from tests.support.dashboard import (
    DASHBOARD,
    PASSWORD,
    UNAUTHORIZED,
    USERNAME,
    api,
    basic,
    debug_listener,
    login,
    request,
)
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess, TlsServerProcess
from tests.support.webhook_receiver import Receiver

MAX_MEMBERS = 1  # per presence channel: a second member is refused by the channel actor


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    args = [*DASHBOARD, "--app-enable-client-messages", "true"]
    args += ["--app-max-presence-members-per-channel", str(MAX_MEMBERS)]
    with ServerProcess(args=args) as proc:
        yield proc


@pytest.fixture(scope="module")
def session(server: ServerProcess) -> dict[str, str]:
    """The cookie header of a logged-in page."""
    return login(server)


def next_record(listener: PusherClient, kind: str) -> dict:
    """The next debug record of `kind`, without its timestamp."""
    while True:
        frame = listener.recv_event("log")
        assert frame["channel"] == DEBUG_CHANNEL
        record = frame["data"]
        assert isinstance(record.pop("time"), int)
        if record["type"] == kind:
            return record


# -- who gets in --


def test_off_by_default() -> None:
    with ServerProcess() as plain:
        status, _, body = request(plain, "/dashboard", headers=basic(USERNAME, PASSWORD))
    assert (status, json.loads(body)) == (404, {"error": json.loads(body)["error"]})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(USERNAME, "wrong"),
        basic("someone", PASSWORD),
        basic(USERNAME, PASSWORD + "x"),
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer " + PASSWORD},
    ],
    ids=["missing", "wrong-password", "wrong-user", "longer-password", "garbage", "bearer"],
)
def test_login_refused_without_details(server: ServerProcess, headers: dict[str, str]) -> None:
    status, response_headers, body = request(server, "/dashboard", headers=headers)
    assert status == 401
    assert json.loads(body) == UNAUTHORIZED
    assert response_headers["WWW-Authenticate"] == (
        'Basic realm="Socket Rush dashboard", charset="UTF-8"'
    )
    assert "Set-Cookie" not in response_headers


def test_login_opens_a_strict_http_only_session(server: ServerProcess) -> None:
    status, headers, body = request(server, "/dashboard", headers=basic(USERNAME, PASSWORD))
    assert status == 200
    assert b"/dashboard/static/dashboard.js" in body
    cookie = SimpleCookie(headers["Set-Cookie"])["socketrush_dashboard"]
    assert cookie["path"] == "/dashboard"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["secure"] == ""  # plain HTTP on loopback; over TLS it is Secure
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_over_tls_the_session_cookie_is_secure(tmp_path: Path) -> None:
    with TlsServerProcess(args=DASHBOARD, certificate=make_certificate(tmp_path)) as server:
        context = ssl.create_default_context(cafile=server.cafile)
        login = urllib.request.Request(
            server.http_url + "/dashboard", headers=basic(USERNAME, PASSWORD)
        )
        with urllib.request.urlopen(login, timeout=5, context=context) as response:
            cookie = SimpleCookie(response.headers["Set-Cookie"])["socketrush_dashboard"]
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Strict"


ENDPOINTS = [
    ("GET", "/dashboard/static/dashboard.js"),
    ("GET", "/dashboard/static/vendor/pusher.min.js"),
    ("GET", "/dashboard/api/apps"),
    ("GET", f"/dashboard/api/apps/{APP_ID}/channels"),
    ("GET", f"/dashboard/api/apps/{APP_ID}/channels/presence-x/users"),
    ("GET", f"/dashboard/api/apps/{APP_ID}/samples"),
    ("POST", f"/dashboard/api/apps/{APP_ID}/events"),
    ("POST", f"/dashboard/api/apps/{APP_ID}/auth"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "socketrush_dashboard=99999999999.0000",
        "socketrush_dashboard=1000.deadbeef",
        "socketrush_dashboard=",
    ],
    ids=["none", "forged", "expired", "empty"],
)
def test_endpoints_refuse_requests_without_the_session(
    server: ServerProcess, method: str, path: str, cookie: str | None
) -> None:
    headers = {"Content-Type": "application/json", **basic(USERNAME, PASSWORD)}
    if cookie is not None:
        headers["Cookie"] = cookie
    body = b"{}" if method == "POST" else None
    status, response_headers, raw = request(server, path, headers=headers, body=body, method=method)
    # Basic credentials alone open no endpoint but the page: a cross-site request carrying
    # cached credentials gets nothing.
    assert (status, json.loads(raw)) == (401, UNAUTHORIZED)
    assert "WWW-Authenticate" not in response_headers


def test_nothing_the_dashboard_answers_holds_the_secret(
    server: ServerProcess, session: dict[str, str]
) -> None:
    client = PusherClient.connect(server)
    subscribe_signed(server, client, "presence-room", {"user_id": "u1"})
    client.recv_event("pusher_internal:subscription_succeeded")
    listener = debug_listener(server, session)
    bodies = [request(server, "/dashboard", headers=basic(USERNAME, PASSWORD))[2]]
    for method, path in ENDPOINTS:
        if method == "GET":
            bodies.append(request(server, path, headers=session)[2])
    status, apps = api(server, session, "/apps")
    assert status == 200
    assert apps["apps"] == [
        {
            "id": APP_ID,
            "key": APP_KEY,
            "enabled": True,
            "client_events": True,
            "connections": 1,  # the listener's socket is the dashboard's own, not counted
            "messages_per_second": apps["apps"][0]["messages_per_second"],
            "channels": 1,
            "presence_members": 1,
        }
    ]
    client.close()
    next_record(listener, "disconnected")
    assert all(APP_SECRET.encode() not in body for body in bodies)
    listener.close()


# -- the debug channel --


def test_an_app_signature_does_not_open_the_debug_channel(server: ServerProcess) -> None:
    """An app backend knows its secret, so it could sign any channel name for its clients;
    the debug channel takes only the dashboard's own signature."""
    client = PusherClient.connect(server)
    signature = hmac.new(
        APP_SECRET.encode(), f"{client.socket_id}:{DEBUG_CHANNEL}".encode(), hashlib.sha256
    ).hexdigest()
    client.subscribe(DEBUG_CHANNEL, f"{APP_KEY}:{signature}")
    assert client.recv() == {
        "event": "pusher:subscription_error",
        "channel": DEBUG_CHANNEL,
        "data": {
            "type": "AuthError",
            "error": DEBUG_AUTH_REFUSED,
            "status": 401,
        },
    }


def test_the_authorizer_signs_only_the_debug_channel(
    server: ServerProcess, session: dict[str, str]
) -> None:
    headers = {**session, "Content-Type": "application/x-www-form-urlencoded"}
    path = f"/dashboard/api/apps/{APP_ID}/auth"
    status, _, raw = request(
        server, path, headers=headers, body=b"socket_id=1.2&channel_name=private-chat"
    )
    assert (status, json.loads(raw)) == (
        403,
        {"error": "Only the dashboard's debug channel is authorised here"},
    )
    body = f"socket_id=nope&channel_name={urllib.request.quote(DEBUG_CHANNEL)}".encode()
    status, _, raw = request(server, path, headers=headers, body=body)
    assert (status, json.loads(raw)) == (400, {"error": "Invalid socket_id"})


def test_records_of_a_connection_s_life(server: ServerProcess, session: dict[str, str]) -> None:
    listener = debug_listener(server, session)
    client = PusherClient.connect(server)
    assert next_record(listener, "connected") == {
        "type": "connected",
        "socket_id": client.socket_id,
        "origin": server.http_url,  # websocket-client's default Origin
    }
    subscribe_signed(server, client, "private-chat")
    assert next_record(listener, "subscribed") == {
        "type": "subscribed",
        "socket_id": client.socket_id,
        "channel": "private-chat",
    }
    client.subscribe("private-other", "key:bad")
    assert next_record(listener, "subscription_error") == {
        "type": "subscription_error",
        "socket_id": client.socket_id,
        "channel": "private-other",
        "status": 401,
        "error": Err.SUBSCRIPTION_BAD_AUTH.message,
    }
    client.send("client-typing", {"who": "me"}, channel="private-chat")
    assert next_record(listener, "client_event") == {
        "type": "client_event",
        "socket_id": client.socket_id,
        "channel": "private-chat",
        "event": "client-typing",
        "data": {"who": "me"},
    }
    client.send("client-typing", {}, channel="private-elsewhere")
    assert next_record(listener, "error") == {
        "type": "error",
        "socket_id": client.socket_id,
        "code": None,
        "message": "Not subscribed to channel private-elsewhere",
    }
    client.send("pusher:nonsense")
    assert next_record(listener, "error") == {
        "type": "error",
        "socket_id": client.socket_id,
        "code": None,
        "message": "Unknown event: pusher:nonsense",
    }
    client.close()
    assert next_record(listener, "disconnected") == {
        "type": "disconnected",
        "socket_id": client.socket_id,
        "code": 1000,
    }
    listener.close()


def test_what_a_channel_decides_is_recorded(server: ServerProcess, session: dict[str, str]) -> None:
    """A full presence channel refuses a subscribe the connection had let through, and a
    client event of the refused socket is answered "not subscribed" by the channel: both
    are decided by the channel actor, and both reach the console."""
    listener = debug_listener(server, session)
    alice, bob = PusherClient.connect(server), PusherClient.connect(server)
    subscribe_signed(server, alice, "presence-full", {"user_id": "alice"})
    alice.recv_event("pusher_internal:subscription_succeeded")
    subscribe_signed(server, bob, "presence-full", {"user_id": "bob"})
    full = Err.SUBSCRIPTION_PRESENCE_FULL
    assert bob.recv() == {
        "event": "pusher:subscription_error",
        "channel": "presence-full",
        "data": {"type": full.type, "error": full.message, "status": 4100},
    }
    assert next_record(listener, "subscription_error") == {
        "type": "subscription_error",
        "socket_id": bob.socket_id,
        "channel": "presence-full",
        "status": 4100,
        "error": full.message,
    }
    bob.send("client-typing", {}, channel="presence-full")
    not_subscribed = "Not subscribed to channel presence-full"
    assert bob.recv() == {
        "event": "pusher:error",
        "data": {"code": None, "message": not_subscribed},
    }
    assert next_record(listener, "error") == {
        "type": "error",
        "socket_id": bob.socket_id,
        "code": None,
        "message": not_subscribed,
    }
    for client in (alice, bob, listener):
        client.close()


def test_webhook_attempts_are_recorded() -> None:
    with Receiver([500]) as receiver:  # the first attempt fails, the retry is delivered
        args = [*DASHBOARD, "--app-webhooks-enabled", "true", "--app-webhook-url", receiver.url]
        args += ["--app-has-channel-occupied-webhooks", "true", "--webhook-retry-base-ms", "50"]
        with ServerProcess(args=args) as server:
            listener = debug_listener(server, login(server))
            client = PusherClient.connect(server)
            client.subscribe("occupied-now")
            records = [next_record(listener, "webhook") for _ in range(2)]
    occupied = [{"name": "channel_occupied", "channel": "occupied-now"}]
    assert records == [
        {
            "type": "webhook",
            "url": receiver.url,
            "events": occupied,
            "attempt": 1,
            "status": 500,
            "outcome": "HTTP 500",
        },
        {
            "type": "webhook",
            "url": receiver.url,
            "events": occupied,
            "attempt": 2,
            "status": 200,
            "outcome": "HTTP 200",
        },
    ]


# -- the event creator --


def test_event_creator_publishes_like_the_http_api(
    server: ServerProcess, session: dict[str, str]
) -> None:
    listener = debug_listener(server, session)
    client = PusherClient.connect(server)
    client.subscribe("news")
    client.recv_event("pusher_internal:subscription_succeeded")
    payload = {"channel": "news", "event": "greeting", "data": '{"text": "hi"}'}
    assert api(server, session, f"/apps/{APP_ID}/events", payload) == (200, {})
    assert client.recv() == {"event": "greeting", "channel": "news", "data": {"text": "hi"}}
    assert next_record(listener, "api_event") == {
        "type": "api_event",
        "channels": ["news"],
        "event": "greeting",
        "data": '{"text": "hi"}',
        "except_socket_id": None,
    }
    client.close()
    listener.close()


@pytest.mark.parametrize(
    "payload,status,error",
    [
        ({"event": "e", "data": "{}"}, 400, None),
        ({"channel": "#bad", "event": "e", "data": "{}"}, 400, None),
        ({"channel": "c", "event": "", "data": "{}"}, 400, None),
        ({"channel": "c", "event": "e"}, 400, "data is required"),
        ({"channel": "c", "event": "e", "data": "x" * 11 * 1024}, 413, None),
        (["not", "an", "object"], 400, "Body must be a JSON object"),
    ],
    ids=["no-channel", "bad-channel", "empty-event", "no-data", "too-large", "not-object"],
)
def test_event_creator_validates_like_the_http_api(
    server: ServerProcess, session: dict[str, str], payload: object, status: int, error: str | None
) -> None:
    got_status, body = api(server, session, f"/apps/{APP_ID}/events", payload)
    assert got_status == status
    assert set(body) == {"error"}
    if error is not None:
        assert body["error"] == error


def test_unknown_app_is_a_404(server: ServerProcess, session: dict[str, str]) -> None:
    assert api(server, session, "/apps/nope/channels") == (404, {"error": "Unknown app id nope"})
