"""A blocking Pusher protocol 7 client on `websocket-client`, for the Locust scenarios.

Locust monkey-patches the socket module, so these blocking calls yield to other simulated users.
Every wait takes a deadline: a scenario never hangs on a silent server, it records a failure.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import orjson
import websocket

Frame = dict[str, Any]


class PusherProtocolError(Exception):
    """The server answered with `pusher:error`, a subscription error, or closed the socket."""


def decode_frame(text: str | bytes) -> Frame:
    """Parse a frame; `data` arrives JSON-encoded inside the JSON frame, so decode it too."""
    frame = orjson.loads(text)
    data = frame.get("data")
    if isinstance(data, str) and data[:1] in ("{", "["):
        frame["data"] = orjson.loads(data)
    return frame


class PusherSocket:
    """One connection that has received `pusher:connection_established`."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.ws = websocket.create_connection(url, timeout=timeout)
        established = self.expect("pusher:connection_established")
        self.socket_id: str = established["data"]["socket_id"]

    def send(self, event: str, data: Any, channel: str | None = None) -> None:
        frame: Frame = {"event": event, "data": data}
        if channel is not None:
            frame["channel"] = channel
        self.ws.send(orjson.dumps(frame).decode())

    def subscribe(
        self, channel: str, auth: str | None = None, channel_data: str | None = None
    ) -> None:
        """Send `pusher:subscribe`; call `expect_subscribed` to wait for the answer."""
        data: Frame = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        if channel_data is not None:
            data["channel_data"] = channel_data
        self.send("pusher:subscribe", data)

    def expect_subscribed(self, channel: str) -> Frame:
        return self.expect("pusher_internal:subscription_succeeded", channel)

    def recv(self, timeout: float) -> Frame | None:
        """Next application frame, or None when `timeout` passes first.

        `pusher:ping` is answered here so that a long hold never trips the activity timeout.
        """
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            self.ws.settimeout(remaining)
            try:
                opcode, payload = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                return None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise PusherProtocolError(f"closed by server: {payload[2:]!r}")
            frame = decode_frame(payload)
            event = frame.get("event")
            if event == "pusher:ping":
                self.send("pusher:pong", {})
            elif event in ("pusher:error", "pusher_internal:subscription_error"):
                raise PusherProtocolError(f"{event}: {frame.get('data')}")
            else:
                return frame
        return None

    def expect(self, event: str, channel: str | None = None, timeout: float | None = None) -> Frame:
        """Skip frames until `event` (on `channel`, if given) arrives; raise on timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while (remaining := deadline - time.monotonic()) > 0:
            frame = self.recv(remaining)
            if frame and frame.get("event") == event and channel in (None, frame.get("channel")):
                return frame
        raise PusherProtocolError(f"no {event} on {channel} within the timeout")

    def hold(self, seconds: float) -> None:
        """Stay connected and idle for `seconds`, failing if the server drops the socket."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self.recv(remaining)

    def close(self) -> None:
        """Send a close frame and drop the socket without waiting for the server's echo.

        websocket-client's own `close()` waits for the echo inside a bare `except:`, which
        swallows the GreenletExit that Locust stops users with, so a run would never end.
        """
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.send_close()
        self.ws.shutdown()
