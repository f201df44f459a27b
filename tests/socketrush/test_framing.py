"""RFC 6455 framing against the real server, on a bare TCP socket.

No WebSocket library is involved: the upgrade and every frame are written by hand, so the
tests can send what well-behaved libraries never would (fragments, unmasked or oversized
frames, invalid UTF-8) and see exactly which bytes come back.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.metrics import other_free_port, scrape_until, value
from tests.support.server import APP_ID, APP_KEY, ServerProcess

OP_CONT, OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x8, 0x9, 0xA
TIMEOUT = 5.0
PING_MESSAGE = b'{"event":"pusher:ping","data":{}}'
PONG_MESSAGE = {"event": "pusher:pong", "data": "{}"}


RAW_QUERY = "?protocol=7&client=raw&version=1.0"
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3's example


def upgrade_request(path: str, key: str = RFC_KEY, version: str = "13") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: {version}\r\n\r\n"
    ).encode()


class RawWebSocket:
    """A client that does the upgrade itself and exchanges hand-built frames."""

    def __init__(self, server: ServerProcess, request: bytes | None = None) -> None:
        """Send `request` (a valid upgrade when None) and read the response head; a default
        upgrade must succeed with pusher:connection_established."""
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        self._buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(request or upgrade_request(f"/app/{APP_KEY}{RAW_QUERY}", key))
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        self.head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        if request is None:
            assert self.head.startswith(b"HTTP/1.1 101"), self.head
            established = self.recv_text()
            assert established["event"] == "pusher:connection_established", established

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the TCP connection")
        self._buffer += chunk

    def _take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True
    ) -> None:
        self.sock.sendall(build_frame(opcode, payload, fin=fin, masked=masked))

    def recv_frame(self) -> tuple[bool, int, bytes]:
        """(fin, opcode, payload) of the next server frame, which must be unmasked."""
        first, second = self._take(2)
        assert not second & 0x80, "server frames must not be masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        return bool(first & 0x80), first & 0x0F, self._take(length)

    def recv_text(self) -> dict:
        fin, opcode, payload = self.recv_frame()
        assert (fin, opcode) == (True, OP_TEXT), (fin, opcode, payload)
        return json.loads(payload)

    def recv_close(self) -> int:
        """Expect a close frame; return its status code."""
        fin, opcode, payload = self.recv_frame()
        assert (fin, opcode) == (True, OP_CLOSE), (fin, opcode, payload)
        return int.from_bytes(payload[:2], "big")

    def assert_tcp_closed(self) -> None:
        """The server ends the TCP connection: the next read sees EOF (or a reset)."""
        assert not self._buffer, self._buffer
        with contextlib.suppress(ConnectionResetError):
            assert self.sock.recv(1) == b""

    def close(self) -> None:
        self.sock.close()


def build_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if masked else 0
    length = len(payload)
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 0x10000:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


@pytest.fixture
def raw(server: ServerProcess) -> Iterator[Callable[[], RawWebSocket]]:
    opened: list[RawWebSocket] = []

    def connect() -> RawWebSocket:
        client = RawWebSocket(server)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()


def assert_ping_pong_works(client: RawWebSocket) -> None:
    client.send_frame(OP_TEXT, PING_MESSAGE)
    assert client.recv_text() == PONG_MESSAGE


def test_fragmented_text_message_is_reassembled(raw: Callable[[], RawWebSocket]) -> None:
    client = raw()
    client.send_frame(OP_TEXT, PING_MESSAGE[:10], fin=False)
    client.send_frame(OP_CONT, PING_MESSAGE[10:20], fin=False)
    client.send_frame(OP_CONT, PING_MESSAGE[20:])
    assert client.recv_text() == PONG_MESSAGE


def test_fragment_split_inside_a_multibyte_character(raw: Callable[[], RawWebSocket]) -> None:
    """A code point cut in two by fragmentation is still valid UTF-8 once reassembled."""
    client = raw()
    message = '{"event":"pusher:ping","data":{"x":"é"}}'.encode()
    cut = message.index("é".encode()) + 1
    client.send_frame(OP_TEXT, message[:cut], fin=False)
    client.send_frame(OP_CONT, message[cut:])
    assert client.recv_text() == PONG_MESSAGE


@pytest.mark.parametrize("padding", [200, 70_000], ids=["16-bit-length", "64-bit-length"])
def test_long_message_lengths(raw: Callable[[], RawWebSocket], padding: int) -> None:
    client = raw()
    message = b'{"event":"pusher:ping","data":{"pad":"' + b"p" * padding + b'"}}'
    client.send_frame(OP_TEXT, message)
    assert client.recv_text() == PONG_MESSAGE


def test_ping_between_fragments_is_answered_first(raw: Callable[[], RawWebSocket]) -> None:
    client = raw()
    client.send_frame(OP_TEXT, PING_MESSAGE[:10], fin=False)
    client.send_frame(OP_PING, b"are you there")
    assert client.recv_frame() == (True, OP_PONG, b"are you there")
    client.send_frame(OP_CONT, PING_MESSAGE[10:])
    assert client.recv_text() == PONG_MESSAGE


def test_client_close_is_echoed_then_tcp_closed(raw: Callable[[], RawWebSocket]) -> None:
    client = raw()
    client.send_frame(OP_CLOSE, (1000).to_bytes(2, "big") + b"bye")
    assert client.recv_close() == 1000
    client.assert_tcp_closed()


def _invalid_utf8(client: RawWebSocket) -> None:
    client.send_frame(OP_TEXT, b'{"event":"pusher:ping","data":"\xff\xfe"}')


def _announces_100_mb(client: RawWebSocket) -> None:
    # Only the header (with its mask key) is sent: the server must refuse on the header alone.
    client.sock.sendall(struct.pack("!BBQ", 0x80 | OP_TEXT, 0x80 | 127, 100 * 1024 * 1024))
    client.sock.sendall(os.urandom(4))


def _unmasked(client: RawWebSocket) -> None:
    client.send_frame(OP_TEXT, PING_MESSAGE, masked=False)


def _length_not_minimal(client: RawWebSocket) -> None:
    # A 33-byte ping declared with the 64-bit length form: RFC 6455 wants the 7-bit one.
    mask = os.urandom(4)
    header = struct.pack("!BBQ", 0x80 | OP_TEXT, 0x80 | 127, len(PING_MESSAGE)) + mask
    client.sock.sendall(header + bytes(b ^ mask[i % 4] for i, b in enumerate(PING_MESSAGE)))


@pytest.mark.parametrize(
    ("misbehave", "close_code"),
    [
        (_invalid_utf8, 1007),
        (_announces_100_mb, 1009),
        (_unmasked, 1002),
        (_length_not_minimal, 1002),
    ],
    ids=["invalid-utf8", "100mb-header", "unmasked", "length-not-minimal"],
)
def test_protocol_violation_closes_with_code_and_spares_others(
    raw: Callable[[], RawWebSocket],
    misbehave: Callable[[RawWebSocket], None],
    close_code: int,
) -> None:
    bad = raw()
    misbehave(bad)
    assert bad.recv_close() == close_code
    bad.send_frame(OP_CLOSE, close_code.to_bytes(2, "big"))
    bad.assert_tcp_closed()
    assert_ping_pong_works(raw())


# -- the opening handshake, answered by the server's own upgrade path (protocol/handshake.py) --


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head and whatever followed it, up to the server's close."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return head, rest


def test_upgrade_response_is_exact_and_followed_by_hello(server: ServerProcess) -> None:
    client = RawWebSocket(server, upgrade_request(f"/app/{APP_KEY}{RAW_QUERY}"))
    assert client.head == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    )
    hello = client.recv_text()
    assert hello["event"] == "pusher:connection_established"
    assert set(json.loads(hello["data"])) == {"socket_id", "activity_timeout"}
    assert_ping_pong_works(client)
    client.close()


def test_frame_sent_with_the_upgrade_request_is_read(server: ServerProcess) -> None:
    """Bytes the HTTP parser buffered past the request belong to the WebSocket."""
    request = upgrade_request(f"/app/{APP_KEY}{RAW_QUERY}") + build_frame(OP_TEXT, PING_MESSAGE)
    client = RawWebSocket(server, request)
    assert client.head.startswith(b"HTTP/1.1 101 ")
    assert client.recv_text()["event"] == "pusher:connection_established"
    assert client.recv_text() == PONG_MESSAGE
    client.close()


def test_unknown_app_is_upgraded_then_refused_with_4001(server: ServerProcess) -> None:
    client = RawWebSocket(server, upgrade_request(f"/app/no-such-key{RAW_QUERY}"))
    assert client.head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    error = client.recv_text()
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] == 4001
    assert client.recv_close() == 4001
    client.send_frame(OP_CLOSE, (4001).to_bytes(2, "big"))
    client.assert_tcp_closed()
    client.close()


@pytest.mark.parametrize(
    ("key", "version"),
    [("not base64!", "13"), ("c2hvcnQ=", "13"), (RFC_KEY, "12")],
    ids=["key-not-base64", "key-not-16-bytes", "unsupported-version"],
)
def test_invalid_upgrade_on_app_path_is_a_json_400(
    server: ServerProcess, key: str, version: str
) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    sock.sendall(upgrade_request(f"/app/{APP_KEY}{RAW_QUERY}", key, version))
    sock.shutdown(socket.SHUT_WR)
    head, body = read_response(sock)
    sock.close()
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 400 Bad Request"
    assert json.loads(body) == {"error": "WebSocket upgrade required"}


# -- messages that cannot be parsed, however deep their JSON (hostile input) --

LEVELS = 100_000


def _nested(levels: int, opener: str, closer: str, core: str = "") -> bytes:
    return (
        '{"event":"pusher:ping","data":' + opener * levels + core + closer * levels + "}"
    ).encode()


def test_json_nested_100000_levels_is_invalid_json_and_the_connection_stays(
    raw: Callable[[], RawWebSocket],
) -> None:
    client = raw()
    client.send_frame(OP_TEXT, _nested(LEVELS, "[", "]"))  # 200 KB: under the message limit
    error = client.recv_text()
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] is None
    assert error["data"]["message"].startswith("Invalid JSON: depth limit exceeded")
    assert_ping_pong_works(client)


def test_a_message_too_big_gets_its_close_frame_and_a_clean_end_not_a_reset(
    raw: Callable[[], RawWebSocket],
) -> None:
    """100,000 levels of objects is 600 KB, over the 256 KB message limit: refused on the
    frame header with 1009. The server reads on past the refused frame, so the rest of it is
    not left unread in its socket (closing over unread bytes sends a TCP reset, which can
    overtake the close frame), and the connection ends with a close handshake and a FIN."""
    client = raw()
    message = _nested(LEVELS, '{"a":', "}", "1")
    assert len(message) > 512 * 1024
    client.send_frame(OP_TEXT, message)
    assert client.recv_frame() == (True, OP_CLOSE, (1009).to_bytes(2, "big") + b"Message too big")
    client.send_frame(OP_CLOSE, (1009).to_bytes(2, "big"))
    assert client.sock.recv(1) == b""  # end of stream: a reset raises ConnectionResetError
    assert_ping_pong_works(raw())


# -- a frame that never completes (hostile input) --


@pytest.fixture
def quick_frames(start_server) -> ServerProcess:
    """Frame timeout 300 ms; metrics on the port `quick_frames.metrics_port`."""
    metrics_port = other_free_port(0)
    server = start_server(
        "--frame-timeout-ms", "300",
        "--metrics-enabled", "true", "--metrics-port", str(metrics_port),
        env={"LOG_LEVEL": "info"},
    )  # fmt: skip
    server.metrics_port = metrics_port
    return server


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(lambda frame: frame[:1], id="first-byte"),
        pytest.param(lambda frame: frame[:6], id="header"),
        pytest.param(lambda frame: frame[:-1], id="all-but-the-last-byte"),
    ],
)
def test_a_frame_that_stops_arriving_is_closed_with_1008(
    quick_frames: ServerProcess, sent: Callable[[bytes], bytes]
) -> None:
    client = RawWebSocket(quick_frames)
    client.sock.sendall(sent(build_frame(OP_TEXT, PING_MESSAGE)))
    assert client.recv_close() == 1008  # within the 5 s socket timeout, after 0.3 s
    client.send_frame(OP_CLOSE, (1008).to_bytes(2, "big"))
    client.assert_tcp_closed()
    assert "1008 Frame not completed within 300 ms" in quick_frames.log()
    counter, labels = "socketrush_frame_timeouts_total", {"app_id": APP_ID}
    samples = scrape_until(quick_frames.metrics_port, counter, 1, **labels)
    assert value(samples, counter, **labels) == 1
    assert_ping_pong_works(RawWebSocket(quick_frames))


def test_a_frame_completed_in_pieces_within_the_timeout_is_handled(
    quick_frames: ServerProcess,
) -> None:
    client = RawWebSocket(quick_frames)
    frame = build_frame(OP_TEXT, PING_MESSAGE)
    for start in range(0, len(frame), 10):
        client.sock.sendall(frame[start : start + 10])
        time.sleep(0.02)  # pacing a slow (but not too slow) client
    assert client.recv_text() == PONG_MESSAGE
    time.sleep(0.6)  # then idle, between frames, past the frame timeout: nothing is owed
    assert_ping_pong_works(client)
