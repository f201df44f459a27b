"""Talking to a server's dashboard as its page does: the login, the JSON API, the debug channel."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from http.cookies import SimpleCookie

from socketrush.dashboard.hub import DEBUG_CHANNEL
from tests.support.client import PusherClient
from tests.support.server import APP_ID, ServerProcess

USERNAME, PASSWORD = "ops", "correct horse battery staple"
UNAUTHORIZED = {"error": "Unauthorized"}


DASHBOARD = ["--dashboard-enabled", "true", "--dashboard-username", USERNAME]
DASHBOARD += ["--dashboard-password", PASSWORD]


def request(
    server: ServerProcess,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    method: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        server.http_url + path, data=body, headers=headers or {}, method=method
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def login(server: ServerProcess) -> dict[str, str]:
    """The cookie header of a page that logged in. A refused login says what answered it:
    the status, the body, and the server's log (which says why it answered so, or that it
    never listened: see `ServerProcess.listens`)."""
    status, headers, body = request(server, "/dashboard", headers=basic(USERNAME, PASSWORD))
    answered = f"login answered {status} {body[:200]!r}; server log:\n{server.log()[-2000:]}"
    assert status == 200 and b"/dashboard/static/dashboard.js" in body, answered
    assert "Set-Cookie" in headers, answered
    cookie = SimpleCookie(headers["Set-Cookie"])["socketrush_dashboard"]
    return {"Cookie": f"socketrush_dashboard={cookie.value}"}


def api(server: ServerProcess, session: dict[str, str], path: str, payload: object = None):
    headers = dict(session)
    body = None
    if payload is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(payload).encode()
    status, _, raw = request(server, "/dashboard/api" + path, headers=headers, body=body)
    return status, json.loads(raw)


def debug_listener(server: ServerProcess, session: dict[str, str]) -> PusherClient:
    """A socket signed into the app's debug channel the way the page's pusher-js is."""
    client = PusherClient.connect(server)
    form = f"socket_id={client.socket_id}&channel_name={urllib.request.quote(DEBUG_CHANNEL)}"
    headers = {**session, "Content-Type": "application/x-www-form-urlencoded"}
    status, _, raw = request(
        server, f"/dashboard/api/apps/{APP_ID}/auth", headers=headers, body=form.encode()
    )
    assert status == 200, raw
    client.subscribe(DEBUG_CHANNEL, json.loads(raw)["auth"])
    assert client.recv() == {
        "event": "pusher_internal:subscription_succeeded",
        "channel": DEBUG_CHANNEL,
        "data": {},
    }
    return client
