"""Pusher clients on gevent sockets for the soak and the leak tests: join any kind of channel
(signed with the official SDK where the channel needs it), sign in, and leave in each of the
ways real clients leave.

Signing is HMAC work the SDK does in-process (it opens no connection). Only for servers on
loopback, like every load test here.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pusher
from gevent import socket

from loadtests.rawws import RawPusher

HOST = "127.0.0.1"
_PING = b'"event":"pusher:ping"'
# The encrypted channels' master key (any 32 bytes, base64): signing needs it, the server not.
MASTER_KEY = "c29hay10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXMhISE="


class Kind(enum.Enum):
    """Channel kinds, by the prefix that makes a channel one."""

    PUBLIC = ""
    PRIVATE = "private-"
    PRESENCE = "presence-"
    ENCRYPTED = "private-encrypted-"
    CACHE = "cache-"
    PRIVATE_CACHE = "private-cache-"
    PRESENCE_CACHE = "presence-cache-"

    def channel(self, name: str) -> str:
        return self.value + name

    @property
    def is_presence(self) -> bool:
        return self.value.startswith("presence-")


class Leave(enum.Enum):
    """How a client goes: the ways a server must clean up after."""

    CLOSE = "close"  # a close frame, socket closed without waiting for the echo
    UNSUBSCRIBE = "unsubscribe"  # unsubscribe everything first, then a close frame
    DROP = "drop"  # a TCP reset: no close frame at all


@dataclass(frozen=True)
class App:
    """The app under test and the SDK that signs for it."""

    app_id: str
    key: str
    secret: str

    def signer(self, port: int = 80) -> pusher.Pusher:
        return pusher.Pusher(
            app_id=self.app_id,
            key=self.key,
            secret=self.secret,
            host=HOST,
            port=port,
            ssl=False,
            encryption_master_key_base64=MASTER_KEY,
        )


_user_numbers = itertools.count(1)


class Client:
    """One connection and what it joined (`channels`), for a clean or abrupt leave."""

    def __init__(self, port: int, app: App, timeout: float = 10.0) -> None:
        self.app = app
        self.raw = RawPusher(HOST, port, app.key, timeout=timeout)
        self.socket_id = self.raw.socket_id
        self.channels: list[str] = []
        self._signer = app.signer(port)

    def join(self, kind: Kind, name: str, user_id: str | None = None) -> dict[str, Any]:
        """Subscribe (signed when the kind needs it) and wait for the confirmation; presence
        channels join as `user_id` (a fresh one by default). Returns the confirmation."""
        channel = kind.channel(name)
        data: dict[str, Any] = {"channel": channel}
        if kind is not Kind.PUBLIC and kind is not Kind.CACHE:
            member = None
            if kind.is_presence:
                member = {"user_id": user_id or f"user-{next(_user_numbers)}", "user_info": {}}
            auth = self._signer.authenticate(
                channel=channel, socket_id=self.socket_id, custom_data=member
            )
            data["auth"] = auth["auth"]
            if "channel_data" in auth:
                data["channel_data"] = auth["channel_data"]
        self.raw.send("pusher:subscribe", data)
        confirmed = self.raw.next_event("pusher_internal:subscription_succeeded")
        self.channels.append(channel)
        return confirmed

    def sign_in(self, user_id: str, watchlist: list[str] | None = None) -> None:
        user: dict[str, Any] = {"id": user_id}
        if watchlist:
            user["watchlist"] = watchlist
        auth = self._signer.authenticate_user(self.socket_id, user)
        self.raw.send("pusher:signin", {"user_data": auth["user_data"], "auth": auth["auth"]})
        self.raw.next_event("pusher:signin_success")

    def follow(self, on_text: Callable[[bytes], None] = lambda text: None) -> None:
        """Read until the connection ends, answering the server's pings (so a long-lived
        client that only listens is never closed as inactive); every other text frame goes
        to `on_text`. Raises the reason the connection ended."""
        self.raw.sock.settimeout(None)
        while True:
            for text in self.raw.texts():
                if _PING in text:
                    self.raw.send("pusher:pong", {})
                else:
                    on_text(text)

    def send_event(self, channel: str, event: str, data: Any) -> None:
        self.raw.send(event, data, channel)

    def leave(self, how: Leave) -> None:
        if how is Leave.UNSUBSCRIBE:
            for channel in self.channels:
                self.raw.send("pusher:unsubscribe", {"channel": channel})
        if how is Leave.DROP:
            drop(self.raw.sock)
        else:
            self.raw.close()

    def close(self) -> None:
        self.raw.close()


def drop(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0): the peer sees the connection vanish, no close frame."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
