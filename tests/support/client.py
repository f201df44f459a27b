"""A small Pusher protocol client for end-to-end tests, on the independent `websocket-client`.

It returns every frame as a dict with `data` decoded when the server double-encoded it, and it
waits on the socket with a deadline (never a sleep), so tests can assert exact frames in order.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pusher
import websocket

from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess

DEFAULT_TIMEOUT = 5.0


def decode_frame(text: str) -> dict[str, Any]:
    frame = json.loads(text)
    data = frame.get("data")
    if isinstance(data, str):
        with contextlib.suppress(ValueError):
            frame["data"] = json.loads(data)
    return frame


class PusherClient:
    """One WebSocket connection speaking protocol 7."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.ws = websocket.create_connection(url, timeout=timeout)
        self.timeout = timeout
        self.socket_id: str | None = None

    @classmethod
    def connect(cls, server: ServerProcess, key: str = APP_KEY) -> PusherClient:
        """Connect and consume `pusher:connection_established`."""
        client = cls(server.ws_url(key))
        established = client.recv()
        assert established["event"] == "pusher:connection_established", established
        client.socket_id = established["data"]["socket_id"]
        return client

    def send(self, event: str, data: Any = None, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data if data is not None else {}}
        if channel is not None:
            frame["channel"] = channel
        self.ws.send(json.dumps(frame))

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """Next text frame, decoded; raises websocket.WebSocketTimeoutException on timeout."""
        self.ws.settimeout(timeout or self.timeout)
        opcode, payload = self.ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise ConnectionClosed(payload)
        return decode_frame(payload.decode())

    def recv_event(self, event: str, timeout: float | None = None) -> dict[str, Any]:
        """Skip frames until one with this event name arrives."""
        while True:
            frame = self.recv(timeout)
            if frame["event"] == event:
                return frame

    def assert_silent(self, timeout: float = 0.3) -> None:
        """Assert that no frame arrives within `timeout` (for "not echoed" checks)."""
        self.ws.settimeout(timeout)
        try:
            opcode, payload = self.ws.recv_data()
        except websocket.WebSocketTimeoutException:
            return
        raise AssertionError(f"unexpected frame: {opcode} {payload[:200]!r}")

    def subscribe(
        self, channel: str, auth: str | None = None, channel_data: str | None = None
    ) -> None:
        data: dict[str, Any] = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        if channel_data is not None:
            data["channel_data"] = channel_data
        self.send("pusher:subscribe", data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()


class ConnectionClosed(Exception):
    """The server sent a close frame; `.code` and `.reason` are parsed from it."""

    def __init__(self, payload: bytes) -> None:
        self.code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        self.reason = payload[2:].decode(errors="replace")
        super().__init__(f"closed {self.code} {self.reason}")


def sdk(
    server: ServerProcess,
    app_id: str = APP_ID,
    key: str = APP_KEY,
    secret: str = APP_SECRET,
    **kwargs: Any,
) -> pusher.Pusher:
    """The official Pusher server SDK pointed at the test server."""
    return pusher.Pusher(
        app_id=app_id,
        key=key,
        secret=secret,
        host="127.0.0.1",
        port=server.port,
        ssl=False,
        **kwargs,
    )


# -- helpers for the WebSocket end-to-end tests --


def expect_close(
    client: PusherClient, timeout: float | None = None
) -> tuple[dict[str, Any], int | None]:
    """Read the `pusher:error` a closing server sends first, then its close frame.

    Returns the error frame and the close code, so a test can assert both exactly.
    """
    error = client.recv(timeout)
    try:
        extra = client.recv(timeout)
    except ConnectionClosed as closed:
        return error, closed.code
    raise AssertionError(f"expected a close frame after {error}, got {extra}")


def assert_alive(client: PusherClient) -> None:
    """Prove the connection still works: a `pusher:ping` is answered by the next frame."""
    client.send("pusher:ping")
    assert client.recv() == {"event": "pusher:pong", "data": {}}


def subscribe_signed(
    server: ServerProcess,
    client: PusherClient,
    channel: str,
    custom_data: dict[str, Any] | None = None,
    **sdk_options: Any,
) -> None:
    """Subscribe to a private/presence/encrypted channel with an SDK-made signature.

    `sdk_options` reach the SDK (encrypted channels need `encryption_master_key_base64`).
    """
    auth = sdk(server, **sdk_options).authenticate(
        channel=channel, socket_id=client.socket_id, custom_data=custom_data
    )
    client.subscribe(channel, auth["auth"], auth.get("channel_data"))


def sign_in(server: ServerProcess, client: PusherClient, user: dict[str, Any]) -> dict[str, Any]:
    """Send `pusher:signin` with SDK-made user auth; returns what was signed."""
    auth = sdk(server).authenticate_user(client.socket_id, user)
    client.send("pusher:signin", {"user_data": auth["user_data"], "auth": auth["auth"]})
    return auth
