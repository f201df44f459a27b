"""A lean Pusher WebSocket client on gevent sockets, for load generation and the perf tests.

The generator has one core to receive up to tens of thousands of frames per second, so this
skips everything a general client does that the benchmark does not need: no extensions, no
fragmentation, text frames only. Outgoing frames use an all-zero mask key, so masking is a no-op;
the server unmasks as usual. Only for traffic to our own server on loopback. gevent sockets
cooperate whether or not the caller monkey-patched, so the perf tests can run a server on the
same hub as their clients.
"""

from __future__ import annotations

import base64
import contextlib
import os
import struct
from typing import Any

import gevent
import orjson
from gevent import socket, ssl

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA
ZERO_MASK = b"\x00\x00\x00\x00"


class Closed(ConnectionError):
    """The server closed the connection (EOF or a close frame)."""


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A final, client-to-server frame (mask bit set, zero key)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return header + ZERO_MASK + payload


class RawPusher:
    """One protocol 7 connection; `socket_id` is set once the handshake is done."""

    def __init__(
        self,
        host: str,
        port: int,
        key: str,
        timeout: float = 10.0,
        source: str | None = None,
        rcvbuf: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`source` (127.0.0.x) gives each address its own range of ephemeral ports; `rcvbuf`
        shrinks the receive buffer (set before connecting, so the advertised window is small)
        to play a slow consumer; `tls` (a gevent.ssl context) speaks wss."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self.buffer = self._handshake(host, port, key)
        self.pending: list[bytes] = []
        established = self.next_event("pusher:connection_established", timeout)
        self.socket_id: str = orjson.loads(established["data"])["socket_id"]

    def _handshake(self, host: str, port: int, key: str) -> bytearray:
        nonce = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /app/{key}?protocol=7&client=bench&version=1.0 HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = bytearray()
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Closed("EOF during the WebSocket handshake")
            response += chunk
        head, _, rest = bytes(response).partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise Closed(f"handshake refused: {head[:200]!r}")
        return bytearray(rest)

    def send(self, event: str, data: Any, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            frame["channel"] = channel
        self.sock.sendall(encode_frame(OP_TEXT, orjson.dumps(frame)))

    def subscribe(self, channel: str) -> None:
        """Subscribe to a public channel and wait until the server confirms it."""
        self.send("pusher:subscribe", {"channel": channel})
        self.next_event("pusher_internal:subscription_succeeded")

    def texts(self) -> list[bytes]:
        """Every complete text payload buffered, reading (blocking) until there is one."""
        if self.pending:
            texts, self.pending = self.pending, []
            return texts
        texts = self._parse()  # the handshake read may already hold the first frames
        while not texts:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("EOF")
            self.buffer += chunk
            texts = self._parse()
        return texts

    def _parse(self) -> list[bytes]:
        texts: list[bytes] = []
        buf = self.buffer
        offset = 0
        while len(buf) - offset >= 2:
            opcode, size = buf[offset] & 0x0F, buf[offset + 1] & 0x7F
            start = offset + 2
            if size == 126:
                if len(buf) - start < 2:
                    break
                size, start = struct.unpack_from("!H", buf, start)[0], start + 2
            elif size == 127:
                if len(buf) - start < 8:
                    break
                size, start = struct.unpack_from("!Q", buf, start)[0], start + 8
            if len(buf) - start < size:
                break
            payload = bytes(buf[start : start + size])
            offset = start + size
            if opcode == OP_TEXT:
                texts.append(payload)
            elif opcode == OP_PING:
                self.sock.sendall(encode_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                raise Closed(f"close frame {payload[:2].hex()} {payload[2:]!r}")
        del buf[:offset]
        return texts

    def next_event(self, event: str, timeout: float = 10.0) -> dict[str, Any]:
        """Skip frames until `event` arrives (other frames are dropped); raise on timeout."""
        wanted = f'"event":"{event}"'.encode()
        with gevent.Timeout(timeout, TimeoutError(f"no {event} within {timeout}s")):
            while True:
                texts = self.texts()
                for index, text in enumerate(texts):
                    if wanted in text:
                        self.pending = texts[index + 1 :]
                        frame = orjson.loads(text)
                        if frame["event"] == event:
                            return frame
                    if b'"event":"pusher:error"' in text:
                        raise Closed(text.decode(errors="replace"))

    def read_to_eof(self) -> list[bytes]:
        """Every text payload until the server ends the connection (EOF or a reset)."""
        received: list[bytes] = []
        with contextlib.suppress(ConnectionError):  # Closed is one
            while True:
                received += self.texts()
        return received

    def close_and_wait(self) -> None:
        """Send a close frame and wait for the server's end of the stream (after its close
        frame, the server closes the socket)."""
        with contextlib.suppress(OSError):
            self.sock.sendall(encode_frame(OP_CLOSE, struct.pack("!H", 1000)))
            while self.sock.recv(65536):
                pass
        self.sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already gone: closing is all that was wanted
            self.sock.sendall(encode_frame(OP_CLOSE, struct.pack("!H", 1000)))
        self.sock.close()
