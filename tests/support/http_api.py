"""Requests to the Pusher HTTP API signed by hand, for input the official SDK refuses to send
(wrong keys, stale timestamps, hostile bodies), and the answer as (status, decoded JSON)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from socketrush.protocol.http_api import string_to_sign
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess

EVENTS = f"/apps/{APP_ID}/events"
VALID_EVENT = {"name": "e", "channel": "errors", "data": "d"}


def signed_query(
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    params: dict[str, str] | None = None,
    key: str = APP_KEY,
    secret: str = APP_SECRET,
    timestamp: int | None = None,
    body_md5: str | None = None,
) -> dict[str, str]:
    """The query string of a request signed as Pusher's HTTP API reference says,
    ``auth_signature`` included."""
    query = {
        "auth_key": key,
        "auth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "auth_version": "1.0",
        **(params or {}),
    }
    if body is not None:
        query["body_md5"] = body_md5 or hashlib.md5(body).hexdigest()
    to_sign = string_to_sign(method, path, query)
    query["auth_signature"] = hmac.new(
        secret.encode(), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    return query


def send(
    server: ServerProcess, method: str, path: str, query: dict[str, str], body: bytes | None
) -> tuple[int, Any]:
    url = f"{server.http_url}{path}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def signed(
    server: ServerProcess,
    method: str,
    path: str,
    body: bytes | None = None,
    **signing: Any,
) -> tuple[int, Any]:
    """Send a signed request (`signing`: the keywords of `signed_query`)."""
    return send(server, method, path, signed_query(method, path, body, **signing), body)


def post_event(server: ServerProcess, event: dict[str, Any], **signing: Any) -> tuple[int, Any]:
    """Trigger `event` on the test app with a signed ``POST /apps/{id}/events``."""
    return signed(server, "POST", EVENTS, json.dumps(event).encode(), **signing)


def raw_request(server: ServerProcess, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as written (no client tidies it up); (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.connect()
        connection.sock.sendall(request)
        response = http.client.HTTPResponse(connection.sock, method="GET")
        response.begin()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
