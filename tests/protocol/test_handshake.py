"""The `/app/` WebSocket handshake: which requests are upgrades, the 101 response, and the
Pusher protocol version in the query string."""

from __future__ import annotations

import pytest

from socketrush.http.headers import RequestHeaders
from socketrush.protocol.errors import Err
from socketrush.protocol.handshake import (
    Handshake,
    accept_key,
    protocol_refusal,
    switching_protocols,
    upgrade_from_head,
    websocket_upgrade,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3's example key
PATH = "/app/app-key?protocol=7&client=js&version=8.4.0"


def headers(**overrides: str | None) -> RequestHeaders:
    fields = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
        "Origin": "https://example.com",
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            fields.pop(name)
        else:
            fields[name] = value
    return RequestHeaders(list(fields.items()))


def test_accept_key_is_rfc_6455_example() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_switching_protocols_is_the_complete_response_head() -> None:
    assert switching_protocols(KEY) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


def test_valid_upgrade_gives_handshake_and_response() -> None:
    assert websocket_upgrade("GET", "HTTP/1.1", PATH, headers()) == (
        Handshake("app-key", "protocol=7&client=js&version=8.4.0", "https://example.com"),
        switching_protocols(KEY),
    )


def test_header_tokens_match_in_any_case_and_in_lists() -> None:
    upgrade = websocket_upgrade(
        "GET", "HTTP/1.1", PATH, headers(Upgrade="WebSocket", Connection="keep-alive, Upgrade")
    )
    assert upgrade is not None


def test_escaped_key_and_missing_origin_and_query() -> None:
    upgrade = websocket_upgrade("GET", "HTTP/1.1", "/app/my%20key/", headers(Origin=None))
    assert upgrade is not None
    assert upgrade[0] == Handshake("my key", "", "")


@pytest.mark.parametrize(
    ("method", "version", "path", "changes"),
    [
        ("POST", "HTTP/1.1", PATH, {}),
        ("GET", "HTTP/1.0", PATH, {}),
        ("GET", "HTTP/1.1", "/apps/123/events", {}),
        ("GET", "HTTP/1.1", PATH, {"Upgrade": None}),
        ("GET", "HTTP/1.1", PATH, {"Upgrade": "h2c"}),
        ("GET", "HTTP/1.1", PATH, {"Connection": "keep-alive"}),
        ("GET", "HTTP/1.1", PATH, {"Sec_WebSocket_Version": "12"}),
        ("GET", "HTTP/1.1", PATH, {"Sec_WebSocket_Version": None}),
        ("GET", "HTTP/1.1", PATH, {"Sec_WebSocket_Key": None}),
        ("GET", "HTTP/1.1", PATH, {"Sec_WebSocket_Key": "not base64!"}),
        ("GET", "HTTP/1.1", PATH, {"Sec_WebSocket_Key": "c2hvcnQ="}),  # 5 bytes, not 16
    ],
)
def test_anything_else_is_left_to_the_wsgi_path(
    method: str, version: str, path: str, changes: dict[str, str | None]
) -> None:
    assert websocket_upgrade(method, version, path, headers(**changes)) is None


def head(request_line: str = f"GET {PATH} HTTP/1.1", *lines: str) -> bytes:
    """A request head: `lines` replace the default header lines when given."""
    fields = lines or tuple(f"{name}: {value}" for name, value in headers()._fields)
    return "\r\n".join((request_line, *fields, "", "")).encode("latin-1")


def test_a_plain_head_gives_what_the_parsed_request_gives() -> None:
    assert upgrade_from_head(head()) == websocket_upgrade("GET", "HTTP/1.1", PATH, headers())
    assert upgrade_from_head(head()) is not None


def test_a_plain_head_matches_names_in_any_case_and_takes_a_duplicates_first_value() -> None:
    upgrade = upgrade_from_head(
        head(
            f"GET {PATH} HTTP/1.1",
            "UPGRADE:websocket",
            "connection:   Upgrade  ",
            f"sec-websocket-key: {KEY}",
            "Sec-WebSocket-Version: 13",
            "Origin: https://first.example",
            "Origin: https://second.example",
        )
    )
    assert upgrade is not None
    assert upgrade[0].origin == "https://first.example"


@pytest.mark.parametrize(
    "raw",
    [
        head().replace(b"\r\nUpgrade", b"\nUpgrade"),  # a bare LF ends a line elsewhere
        head(f"GET  {PATH} HTTP/1.1"),  # two spaces
        head(f"GET {PATH}"),  # HTTP/0.9
        head(f"POST {PATH} HTTP/1.1"),
        head().replace(b"Origin:", b"Origin :"),  # space before the colon
        head().replace(b"Origin:", b"No-Colon\r\nOrigin:"),
        head().replace(b"\r\nOrigin:", b"\r\n Origin:"),  # a folded line
        head().replace(b"Origin:", b"Content-Length: 0\r\nOrigin:"),  # a body announced
        head().replace(b"Origin:", b"Transfer-Encoding: chunked\r\nOrigin:"),
        head().replace(b"Origin:", b"X: y\r\n" * 100 + b"Origin:"),  # too many headers
        head().replace(KEY.encode(), b"c2hvcnQ="),  # a bad upgrade: the WSGI path answers it
        # Whitespace other than a space splits the request line for gevent's parser.
        *(head(f"GET /app/ke{space}y?protocol=7 HTTP/1.1") for space in "\x0b\x0c\x1f\x85\xa0"),
    ],
)
def test_anything_but_a_plain_valid_upgrade_is_left_to_the_http_parser(raw: bytes) -> None:
    assert upgrade_from_head(raw) is None


def test_handshake_from_a_wsgi_environ() -> None:
    environ = {
        "PATH_INFO": "/app/app-key",
        "QUERY_STRING": "protocol=7",
        "HTTP_ORIGIN": "https://a.example",
    }
    assert Handshake.from_environ(environ) == Handshake(
        "app-key", "protocol=7", "https://a.example"
    )


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ("protocol=7&client=js", None),
        ("client=js&protocol=5", None),
        ("client=js", Err.NO_PROTOCOL),
        ("", Err.NO_PROTOCOL),
        ("protocol=", Err.INVALID_VERSION),
        ("protocol=seven", Err.INVALID_VERSION),
        ("protocol=7\n", Err.INVALID_VERSION),
        ("protocol=\u0667", Err.INVALID_VERSION),  # an Arabic-Indic seven: a digit, not ASCII
        ("protocol=4", Err.UNSUPPORTED_PROTOCOL),
        ("protocol=8", Err.UNSUPPORTED_PROTOCOL),
        ("protocol=07", None),  # a number all the same
        ("xprotocol=7", Err.NO_PROTOCOL),  # another parameter's name
        ("a=1&xprotocol=7", Err.NO_PROTOCOL),
        ("client=js&protocol=4&protocol=7", Err.UNSUPPORTED_PROTOCOL),  # the first counts
        ("protocol=7&protocol=x", None),
    ],
)
def test_protocol_version_of_the_query(query: str, refusal: object) -> None:
    assert protocol_refusal(query) is refusal
