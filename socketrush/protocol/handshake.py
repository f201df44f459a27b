"""The WebSocket opening handshake for `/app/{key}`: which requests are upgrades, the 101
response, and the Pusher protocol version a client asks for. Pure functions: the servers that
read requests (`socketrush/http/`) and the connection that answers them both use it, and
neither has to import the other.

`socketrush serve` reads the request line and headers with gevent's handler, then, when they
ask for a valid WebSocket upgrade on `/app/`, skips the WSGI environ, gevent-websocket's
objects and its separate write of the 101 response: the connection writes the response head
together with its first frame (connection_established or an error) in one send. Measured in
the connect benchmark, that per-request machinery was about a fifth of the server's CPU.
Requests that are not a valid upgrade take the ordinary WSGI path, which answers them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote

from socketrush.protocol.errors import Err, ErrorSpec

APP_PATH = "/app/"
# RFC 6455 section 1.3: the server proves it read the key by hashing it with this GUID.
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# 13 is RFC 6455; 7 and 8 are the drafts gevent-websocket also accepts, kept for old clients.
SUPPORTED_VERSIONS = frozenset({"13", "8", "7"})
# Pusher protocol versions this server speaks (`?protocol=7` in the URL).
SUPPORTED_PROTOCOLS = range(5, 8)


class Headers(Protocol):
    def get(self, name: str, default: str | None = None) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a connection needs from its upgrade request."""

    app_key: str
    query: str  # the raw query string: protocol=7&client=js&...
    origin: str

    @classmethod
    def from_environ(cls, environ: dict) -> Handshake:
        """For upgrades that went through a WSGI server (gunicorn workers)."""
        return cls(
            app_key=_app_key(environ.get("PATH_INFO", "")),
            query=environ.get("QUERY_STRING", ""),
            origin=environ.get("HTTP_ORIGIN", ""),
        )


def _app_key(path: str) -> str:
    return unquote(path[len(APP_PATH) :]).strip("/")


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1(key.encode("latin-1") + _ACCEPT_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def switching_protocols(key: str) -> bytes:
    """The complete 101 response head for a client's Sec-WebSocket-Key."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key).encode("ascii") + b"\r\n\r\n"
    )


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def _has_token(value: str | None, token: str) -> bool:
    """Whether a comma-separated header value lists `token` (any case)."""
    return value is not None and any(part.strip().lower() == token for part in value.split(","))


def websocket_upgrade(
    method: str, http_version: str, path: str, headers: Headers
) -> tuple[Handshake, bytes] | None:
    """The handshake and the 101 response head when this request is a valid WebSocket upgrade
    on `/app/`; None for anything else (the WSGI path then answers it, with a 400 on `/app/`)."""
    if method != "GET" or http_version != "HTTP/1.1" or not path.startswith(APP_PATH):
        return None
    if not _has_token(headers.get("Upgrade"), "websocket"):
        return None
    if not _has_token(headers.get("Connection"), "upgrade"):
        return None
    if headers.get("Sec-WebSocket-Version") not in SUPPORTED_VERSIONS:
        return None
    key = (headers.get("Sec-WebSocket-Key") or "").strip()
    if not _valid_key(key):
        return None
    path, _, query = path.partition("?")
    handshake = Handshake(_app_key(path), query, headers.get("Origin") or "")
    return handshake, switching_protocols(key)


def protocol_refusal(query: str) -> ErrorSpec | None:
    """Why the `protocol=` of a connection's query string is refused, or None to accept it."""
    protocol = next(
        (part[len("protocol=") :] for part in query.split("&") if part.startswith("protocol=")),
        None,
    )
    if protocol is None:
        return Err.NO_PROTOCOL
    if not (protocol.isascii() and protocol.isdigit()):
        return Err.INVALID_VERSION
    if int(protocol) not in SUPPORTED_PROTOCOLS:
        return Err.UNSUPPORTED_PROTOCOL
    return None
