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
from collections.abc import Callable, Iterator

import pytest

from tests.support.server import APP_KEY, ServerProcess

OP_CONT, OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x8, 0x9, 0xA
TIMEOUT = 5.0
PING_MESSAGE = b'{"event":"pusher:ping","data":{}}'
PONG_MESSAGE = {"event": "pusher:pong", "data": "{}"}


class RawWebSocket:
    """A client that does the upgrade itself and exchanges hand-built frames."""

    def __init__(self, server: ServerProcess) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        self._buffer = b""
        self._upgrade()

    def _upgrade(self) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /app/{APP_KEY}?protocol=7&client=raw&version=1.0 HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
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


@pytest.mark.parametrize(
    ("misbehave", "close_code"),
    [(_invalid_utf8, 1007), (_announces_100_mb, 1009), (_unmasked, 1002)],
    ids=["invalid-utf8", "100mb-header", "unmasked"],
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
