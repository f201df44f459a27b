"""Per-app allowed WebSocket origins over real sockets: a handshake from an origin the app
does not allow gets pusher:error 4009 and a 4009 close; an empty list allows every origin."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import websocket

from socketrush.protocol.origins import origin_allowed
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(30)

ALLOWED = "https://app.example.com,https://*.example.org"


def handshake(server: ServerProcess, origin: str | None) -> list[dict | int]:
    """The frames the server sends right after the handshake: the first text frame, then
    either the close code or nothing more (an accepted connection stays open)."""
    options = {"suppress_origin": True} if origin is None else {"origin": origin}
    ws = websocket.create_connection(server.ws_url(), timeout=5, **options)
    try:
        frames: list[dict | int] = [json.loads(ws.recv())]
        if frames[0]["event"] == "pusher:error":
            opcode, payload = ws.recv_data()
            assert opcode == websocket.ABNF.OPCODE_CLOSE
            frames.append(int.from_bytes(payload[:2], "big"))
        return frames
    finally:
        ws.close()


def refused(message: str) -> list[dict | int]:
    return [{"event": "pusher:error", "data": {"code": 4009, "message": message}}, 4009]


@pytest.mark.parametrize(
    ("origin", "allowed", "expected"),
    [
        ("https://any.where", (), True),
        ("", (), True),
        ("https://any.where", ("*",), True),
        ("HTTPS://App.Example.COM", ("https://app.example.com",), True),
        ("https://app.example.com:8443", ("https://app.example.com",), False),
        ("https://app.example.com:8443", ("https://app.example.com:*",), True),
        ("https://a.b.example.org", ("https://*.example.org",), True),
        ("https://evil.com/.example.org", ("https://*.example.org",), False),
        ("https://app.example.com.evil.com", ("https://app.example.com",), False),
    ],
)
def test_origin_allowed(origin: str, allowed: tuple[str, ...], expected: bool) -> None:
    assert origin_allowed(origin, allowed) is expected


@pytest.fixture(scope="module")
def guarded() -> Iterator[ServerProcess]:
    with ServerProcess(args=["--app-allowed-origins", ALLOWED]) as proc:
        yield proc


@pytest.mark.parametrize("origin", ["https://app.example.com", "https://eu.example.org"])
def test_allowed_origin_is_welcomed(guarded: ServerProcess, origin: str) -> None:
    frames = handshake(guarded, origin)
    assert [frame["event"] for frame in frames] == ["pusher:connection_established"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.com",
        "http://app.example.com",
        "https://example.org",
        "https://a.example.org.evil.com",
    ],
)
def test_other_origin_is_refused_with_4009(guarded: ServerProcess, origin: str) -> None:
    assert handshake(guarded, origin) == refused(f"Origin {origin} is not allowed")


def test_missing_origin_is_refused_when_origins_are_listed(guarded: ServerProcess) -> None:
    assert handshake(guarded, None) == refused("Origin (none) is not allowed")


def test_empty_list_allows_every_origin(start_server: Callable) -> None:
    server = start_server()
    for origin in ("https://evil.com", None):
        frames = handshake(server, origin)
        assert [frame["event"] for frame in frames] == ["pusher:connection_established"]


def test_refusal_is_logged_with_socket_and_app(start_server: Callable) -> None:
    server = start_server("--app-allowed-origins", ALLOWED, env={"LOG_LEVEL": "info"})
    handshake(server, "https://evil.com")
    lines = [line for line in server.log().splitlines() if "closing connection" in line]
    assert len(lines) == 1
    assert "(app 424242): 4009 Origin https://evil.com is not allowed" in lines[0]


def test_an_origin_with_control_characters_is_logged_escaped(start_server: Callable) -> None:
    """The Origin header is the client's: its bytes reach the log escaped, on one line."""
    server = start_server("--app-allowed-origins", ALLOWED, env={"LOG_LEVEL": "info"})
    origin = "https://evil.com\x00\x1b[31m"
    assert handshake(server, origin) == refused(f"Origin {origin} is not allowed")
    log = server.log_path.read_bytes()
    assert b"\x00" not in log and b"\x1b" not in log
    lines = [line for line in log.decode().splitlines() if "closing connection" in line]
    assert lines[0].endswith("4009 Origin https://evil.com\\x00\\x1b[31m is not allowed")
