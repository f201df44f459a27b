"""The WebSocket opening handshake for `/app/{key}`: which requests are upgrades, the 101
response, and the Pusher protocol version a client asks for. Pure functions: the servers that
read requests (`socketrush/http/`) and the connection that answers them both use it, and
neither has to import the other.

`socketrush serve` looks at the request head before any HTTP parser does
(`upgrade_from_head`): when it is a valid WebSocket upgrade on `/app/` in the plainest form
HTTP/1.1 allows, gevent's WSGI handler, the WSGI environ and gevent-websocket are all skipped,
and the connection writes the 101 response together with its first frame
(connection_established or an error) in one send. Anything else takes the ordinary WSGI path,
which reads the head itself (gevent's handler; `websocket_upgrade` still spares it the environ
for an upgrade) and answers it.
"""

from __future__ import annotations

import binascii
from typing import NamedTuple, Protocol
from urllib.parse import unquote

from socketrush.protocol.errors import Err, ErrorSpec

try:  # CPython's own SHA-1: a third fewer instructions than OpenSSL's for one short digest
    from _sha1 import sha1 as _sha1
except ImportError:  # an interpreter built without it
    from hashlib import sha1 as _sha1

APP_PATH = "/app/"
# RFC 6455 section 1.3: the server proves it read the key by hashing it with this GUID.
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# 13 is RFC 6455; 7 and 8 are the drafts gevent-websocket also accepts, kept for old clients.
SUPPORTED_VERSIONS = frozenset({"13", "8", "7"})
# Pusher protocol versions this server speaks (`?protocol=7` in the URL).
SUPPORTED_PROTOCOLS = range(5, 8)
_SUPPORTED_PROTOCOL_TEXT = frozenset(str(version) for version in SUPPORTED_PROTOCOLS)
_PROTOCOL = "protocol="
# A longer request head is no plain upgrade (a browser's is well under 2 KB): the WSGI path
# reads it, with its own limits.
PLAIN_HEAD_LIMIT = 4096
MAX_PLAIN_HEADERS = 100  # as http.client and gevent's handler
# Headers that announce a body: an upgrade has none, and the WSGI path has the rules for them.
_CONTENT_LENGTH, _TRANSFER_ENCODING = "content-length", "transfer-encoding"


class Headers(Protocol):
    """Request headers; names are asked for in lower case."""

    def get(self, name: str, default: str | None = None) -> str | None: ...


class Handshake(NamedTuple):
    """What a connection needs from its upgrade request (a tuple: one per connection, built
    ~3x faster than a frozen dataclass)."""

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
    key = path[len(APP_PATH) :]
    return (unquote(key) if "%" in key else key).strip("/")


# A handshake built without NamedTuple's generated __new__ (a Python frame per connection).
_new_tuple = tuple.__new__


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key."""
    return _accept_value(key).decode("ascii")


def _accept_value(key: str) -> bytes:
    digest = _sha1(key.encode("latin-1") + _ACCEPT_GUID).digest()
    return binascii.b2a_base64(digest, newline=False)


def switching_protocols(key: str) -> bytes:
    """The complete 101 response head for a client's Sec-WebSocket-Key."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + _accept_value(key) + b"\r\n\r\n"
    )


def _valid_key(key: str) -> bool:
    """Base64 of 16 bytes (RFC 6455 section 4.1), strictly: what `b64decode(validate=True)`
    accepts, without its regular expression (a tenth of a plain upgrade's parsing)."""
    try:
        return len(binascii.a2b_base64(key.encode("ascii"), strict_mode=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


def _has_token(value: str | None, token: str) -> bool:
    """Whether a comma-separated header value lists `token` (any case)."""
    if value is None:
        return False
    value = value.lower()
    if value == token:  # what clients send: no list to split
        return True
    return any(part.strip() == token for part in value.split(","))


def websocket_upgrade(
    method: str, http_version: str, path: str, headers: Headers
) -> tuple[Handshake, bytes] | None:
    """The handshake and the 101 response head when this request is a valid WebSocket upgrade
    on `/app/`; None for anything else (the WSGI path then answers it, with a 400 on `/app/`)."""
    if method != "GET" or http_version != "HTTP/1.1" or not path.startswith(APP_PATH):
        return None
    # Names in lower case: `headers` may be a plain dict of lower-cased names.
    if not _has_token(headers.get("upgrade"), "websocket"):
        return None
    if not _has_token(headers.get("connection"), "upgrade"):
        return None
    if headers.get("sec-websocket-version") not in SUPPORTED_VERSIONS:
        return None
    key = (headers.get("sec-websocket-key") or "").strip()
    if not _valid_key(key):
        return None
    path, _, query = path.partition("?")
    handshake = _new_tuple(Handshake, (_app_key(path), query, headers.get("origin") or ""))
    return handshake, switching_protocols(key)


def upgrade_from_head(head: bytes) -> tuple[Handshake, bytes] | None:
    """`websocket_upgrade` of a request head read straight from the socket, through the blank
    line that ends it; None unless it is a valid upgrade on `/app/` in the plainest form: CRLF
    line ends only, the request line's three parts one space apart, `name: value` header lines
    (no folded ones), at most `MAX_PLAIN_HEADERS` of them, and no header announcing a body.

    Whatever this accepts, gevent's handler would have read into the same method, path,
    version and header values; whatever it refuses, that handler reads and answers (with a
    400 for a malformed head, or a JSON 400 for a bad upgrade on `/app/`). A duplicate header
    counts by its first value, as there.
    """
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    if text.count("\n") != len(lines) - 1:
        return None  # a bare LF ends a line for other parsers: not plain
    parts = lines[0].split(" ")
    if len(parts) != 3 or len(lines) - 3 > MAX_PLAIN_HEADERS:
        return None
    method, path, version = parts
    if not path.isprintable():
        return None  # other whitespace (\x0b, \xa0, ...) splits the line for gevent's parser
    fields: dict[str, str] = {}
    for line in lines[1:-2]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():  # also refuses folded lines
            return None
        fields.setdefault(name.lower(), value.strip())
    if _CONTENT_LENGTH in fields or _TRANSFER_ENCODING in fields:
        return None
    return websocket_upgrade(method, version, path, fields)


def protocol_refusal(query: str) -> ErrorSpec | None:
    """Why the `protocol=` of a connection's query string is refused, or None to accept it.
    The first `protocol=` parameter counts. Found with `find` rather than by splitting the
    query into a list and scanning it with a generator (callgrind: 5,300 instructions
    against 9,500 per connection)."""
    if query.startswith(_PROTOCOL):
        start = len(_PROTOCOL)
    else:
        start = query.find("&" + _PROTOCOL)
        if start < 0:
            return Err.NO_PROTOCOL
        start += 1 + len(_PROTOCOL)
    end = query.find("&", start)
    protocol = query[start:] if end < 0 else query[start:end]
    if protocol in _SUPPORTED_PROTOCOL_TEXT:  # as clients write it: nothing to convert
        return None
    if not (protocol.isascii() and protocol.isdigit()):
        return Err.INVALID_VERSION
    if int(protocol) not in SUPPORTED_PROTOCOLS:
        return Err.UNSUPPORTED_PROTOCOL
    return None
