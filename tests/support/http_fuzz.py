"""Hypothesis strategies for hostile HTTP API requests, and a client that sends them as drawn.

A drawn `FuzzRequest` is mostly well signed (so it gets past the signature check and reaches
the body and query parsers) and sometimes signed wrong in one way; its body, query, path
segments, headers and method range from valid to hostile. `send_fuzzed` sends it with
`http.client`, which keeps the framing valid: malformed HTTP itself is the handshake fuzz's
subject, not this one's.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import string
import time
import urllib.parse
from dataclasses import dataclass, field

from hypothesis import strategies as st

from socketrush.protocol.http_api import string_to_sign
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess

# The server's body limit with default app limits: a full batch of full payloads (10 x 10 KB),
# doubled, plus 64 KB.
BODY_LIMIT = (10 * 10 * 2 + 64) * 1024
PAYLOAD_LIMIT = 10 * 1024
AUTH_PARAMS = ("auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
SIGNINGS = ("valid",) * 6 + (
    "bad_signature",
    "missing",
    "wrong_key",
    "timestamp",
    "stale",
    "body_md5",
    "version",
    "unsigned_extra",
)
CHANNEL_CHARS = string.ascii_letters + string.digits + "_-=@,.;"
KNOWN_CHANNELS = (
    "fuzz",
    "presence-fuzz",
    "private-fuzz",
    "cache-fuzz",
    "presence-cache-fuzz",
    "private-encrypted-fuzz",
    "#server-to-user-fuzz",
)
HEADER_NAMES = (
    "Content-Type",
    "Content-Encoding",
    "Accept",
    "Accept-Encoding",
    "Origin",
    "Expect",
    "Connection",
    "Upgrade",
    "X-Forwarded-For",
    "Authorization",
    "Cookie",
    "Range",
)
HEADER_VALUES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain; charset=utf-16",
    "gzip",
    "100-continue",
    "Upgrade",
    "websocket",
    "https://example.com",
    "null",
    "bytes=0-1",
    "",
)


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    target: str  # path and query, percent-encoded, as sent
    app_id: str
    segments: tuple[str, ...]  # the channel or user in the path, decoded
    params: dict[str, str]  # the query the server reads, auth_* included
    body: bytes
    signing: str  # "valid", or how the signature was spoiled
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


# -- values --

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
channel_names = st.one_of(
    st.sampled_from(KNOWN_CHANNELS),
    st.sampled_from(KNOWN_CHANNELS),
    st.text(CHANNEL_CHARS, min_size=1, max_size=12),
    st.text(max_size=16),
    st.text(CHANNEL_CHARS, min_size=198, max_size=202),  # around the 200 limit
)
event_names = st.one_of(
    st.text(min_size=1, max_size=20),
    st.text(max_size=3),
    st.text(min_size=198, max_size=202),
)
event_data = st.one_of(
    st.text(max_size=40),
    json_values,
    st.integers(PAYLOAD_LIMIT - 1, PAYLOAD_LIMIT + 1).map(lambda size: "é" * (size // 2)),
    st.integers(PAYLOAD_LIMIT - 1, PAYLOAD_LIMIT + 1).map(lambda size: "x" * size),
)
socket_ids = st.one_of(
    st.from_regex(r"[0-9]{1,6}\.[0-9]{1,6}", fullmatch=True), st.text(max_size=8)
)
path_segments = st.one_of(
    channel_names, st.text(max_size=16), st.sampled_from(("", ".", "..", "%", "a/b", "users"))
)


def info_values() -> st.SearchStrategy[str]:
    parts = st.sampled_from(
        ("subscription_count", "user_count", "cache", "", "members", "USER_COUNT")
    )
    return st.one_of(st.lists(parts, max_size=4).map(",".join), st.text(max_size=12))


extra_params = st.dictionaries(
    st.text(max_size=8).filter(lambda key: key.lower() not in AUTH_PARAMS),
    st.text(max_size=12),
    max_size=2,
)


@st.composite
def event_dicts(draw: st.DrawFn, batch: bool) -> dict[str, object]:
    """A valid event, then up to two spoilt fields: removed, retyped, or the other channel key."""
    event: dict[str, object] = {"name": draw(event_names), "data": draw(event_data)}
    if batch or draw(st.booleans()):
        event["channel"] = draw(channel_names)
    else:
        event["channels"] = draw(st.lists(channel_names, min_size=1, max_size=11))
    if draw(st.booleans()):
        event["socket_id"] = draw(socket_ids)
    if draw(st.booleans()):
        event["info"] = draw(info_values())
    for _ in range(draw(st.integers(0, 2))):
        key = draw(
            st.sampled_from(("name", "data", "channel", "channels", "socket_id", "info", "x"))
        )
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(json_values)
    return event


def _encoded(value: object) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity come out as invalid JSON, on purpose


def _padded_to_limit(value: object) -> st.SearchStrategy[bytes]:
    """`value` with trailing spaces (still valid JSON) to just under, at and over the limit."""
    encoded = _encoded(value)
    return st.integers(-1, 1).map(
        lambda delta: encoded + b" " * (BODY_LIMIT - len(encoded) + delta)
    )


def event_bodies() -> st.SearchStrategy[bytes]:
    event = event_dicts(batch=False)
    return st.one_of(
        event.map(_encoded),
        event.map(_encoded),
        event.map(_encoded),
        json_values.map(_encoded),
        st.binary(max_size=40),
        event.flatmap(_padded_to_limit),
    )


def batch_bodies() -> st.SearchStrategy[bytes]:
    batch = st.lists(event_dicts(batch=True), max_size=11).map(lambda events: {"batch": events})
    return st.one_of(
        batch.map(_encoded),
        batch.map(_encoded),
        batch.map(_encoded),
        json_values.map(lambda value: _encoded({"batch": value})),
        json_values.map(_encoded),
        st.binary(max_size=40),
    )


# -- requests --


def _sign(method: str, path: str, query: dict[str, str], secret: str = APP_SECRET) -> None:
    query["auth_signature"] = hmac.new(
        secret.encode(), string_to_sign(method, path, query).encode(), hashlib.sha256
    ).hexdigest()


@st.composite
def fuzz_requests(
    draw: st.DrawFn,
    method: str,
    template: str,
    *,
    bodies: st.SearchStrategy[bytes] | None = None,
    params: st.SearchStrategy[dict[str, str]] = extra_params,
) -> FuzzRequest:
    """A request for the endpoint `template` ("/apps/{app}/channels/{segment}"), documented
    with `method`; each "{segment}" is drawn from `path_segments`."""
    sent_method = draw(st.sampled_from((method,) * 6 + METHODS))
    app_id = draw(st.one_of(st.just(APP_ID), st.just(APP_ID), st.just(APP_ID), st.text(max_size=6)))
    segments = tuple(draw(path_segments) for _ in range(template.count("{segment}")))
    path, target_path = (
        template.replace("{app}", app_id),
        template.replace("{app}", urllib.parse.quote(app_id, safe="")),
    )
    for segment in segments:
        path = path.replace("{segment}", segment, 1)
        target_path = target_path.replace("{segment}", urllib.parse.quote(segment, safe=""), 1)
    body = draw(bodies) if bodies is not None else b""
    if bodies is None and draw(st.integers(0, 9)) == 0:
        body = draw(st.binary(min_size=1, max_size=20))  # a body where none belongs
    signing = draw(st.sampled_from(SIGNINGS))
    query = {
        "auth_key": "other-key" if signing == "wrong_key" else APP_KEY,
        "auth_timestamp": str(int(time.time()) - (601 if signing == "stale" else 0)),
        "auth_version": "1.0",
        **draw(params),
    }
    if body:
        query["body_md5"] = hashlib.md5(body).hexdigest()
    spoilt = {"timestamp": "auth_timestamp", "body_md5": "body_md5", "version": "auth_version"}
    if signing in spoilt:
        query[spoilt[signing]] = draw(st.text(max_size=12))
    _sign(sent_method, path, query)
    if signing == "bad_signature":
        query["auth_signature"] = draw(st.text(max_size=70))
    elif signing == "missing":
        query.pop(draw(st.sampled_from(AUTH_PARAMS)), None)
    elif signing == "unsigned_extra":
        query[draw(st.text(min_size=1, max_size=6))] = draw(st.text(max_size=6))
    headers = draw(
        st.dictionaries(
            st.sampled_from(HEADER_NAMES),
            st.sampled_from(HEADER_VALUES) | st.text(string.printable.strip(), max_size=20),
            max_size=3,
        )
    )
    return FuzzRequest(
        method=sent_method,
        target=f"{target_path}?{urllib.parse.urlencode(query)}",
        app_id=app_id,
        segments=segments,
        params=query,
        body=body,
        signing=signing,
        headers=headers,
        chunked=bool(body) and draw(st.booleans()),
    )


def send_fuzzed(server: ServerProcess, request: FuzzRequest) -> Reply:
    """Send on a connection of its own, so one answer's framing cannot spoil the next."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body: object = request.body or None
    if request.chunked:
        body = iter([request.body[:7], request.body[7:]])
    try:
        connection.request(
            request.method,
            request.target,
            body=body,
            headers=request.headers,
            encode_chunked=request.chunked,
        )
        response = connection.getresponse()
        content_type = (response.getheader("Content-Type") or "").partition(";")[0]
        return Reply(response.status, content_type, response.read())
    finally:
        connection.close()
