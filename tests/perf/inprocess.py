"""A real Socket Rush server inside the test process, and a gevent client for it.

The perf tests need to look inside the server (count encoder calls, inspect outboxes) while it
talks over real loopback sockets. Both ends therefore run on this process's gevent hub: the
client uses gevent sockets, and anything blocking (the `pusher` SDK) goes to the hub's
threadpool. Nothing is monkey-patched, so other tests in the same session are unaffected.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import gevent
import orjson
from gevent import socket

from socketrush.config import load_settings
from socketrush.node import Node
from socketrush.server import build_server
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, free_port

HOST = "127.0.0.1"
ZERO_MASK = b"\x00\x00\x00\x00"


@dataclass
class InProcessServer:
    node: Node
    port: int


@contextmanager
def serve_in_process(*flags: str) -> Iterator[InProcessServer]:
    """Node + gevent WSGI server on a free loopback port, stopped on exit."""
    port = free_port()
    argv = [
        "--port", str(port), "--bind-address", HOST, "--env-file", os.devnull,
        "--app-id", APP_ID, "--app-key", APP_KEY, "--app-secret", APP_SECRET, *flags,
    ]  # fmt: skip
    settings = load_settings(argv, environ={})
    node = Node(settings)
    server = build_server(settings, node)
    node.start()
    server.start()
    try:
        yield InProcessServer(node, port)
    finally:
        server.stop(timeout=1)
        node.stop(1)


def client_frame(payload: bytes) -> bytes:
    """A masked (zero key, so unmasking is a no-op) final text frame, as clients must send."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, 0x80 | size)
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    return header + ZERO_MASK + payload


class Client:
    """One protocol 7 connection; `texts` collects every text payload read so far."""

    def __init__(self, port: int, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the advertised window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect((HOST, port))
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /app/{APP_KEY}?protocol=7&client=perf&version=1.0 HTTP/1.1\r\n"
                f"Host: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = bytearray()
        while b"\r\n\r\n" not in self.buffer:
            self._recv()
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buffer = bytearray(rest)
        self.texts: list[bytes] = []
        established = self.wait_for(b'"pusher:connection_established"')
        self.socket_id = orjson.loads(orjson.loads(established)["data"])["socket_id"]

    def _recv(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def subscribe(self, channel: str) -> None:
        message = {"event": "pusher:subscribe", "data": {"channel": channel}}
        self.sock.sendall(client_frame(orjson.dumps(message)))
        self.wait_for(b'"pusher_internal:subscription_succeeded"')

    def wait_for(self, marker: bytes) -> bytes:
        """Read until a text payload containing `marker` arrives; return it."""
        seen = len(self.texts)
        while True:
            self._parse()
            for text in self.texts[seen:]:
                if marker in text:
                    return text
            seen = len(self.texts)
            if not self._recv():
                raise ConnectionError(f"EOF before {marker!r}")

    def receive(self) -> list[bytes]:
        """One read: the text payloads it completed, handed over instead of kept."""
        if not self._recv():
            raise ConnectionError("EOF")
        self._parse()
        texts, self.texts = self.texts, []
        return texts

    def read_to_eof(self) -> list[bytes]:
        """Every text payload until the server closes the connection."""
        while self._recv():
            self._parse()
        self._parse()
        texts, self.texts = self.texts, []
        return texts

    def _parse(self) -> None:
        buf, offset = self.buffer, 0
        while len(buf) - offset >= 2:
            opcode, size, start = buf[offset] & 0x0F, buf[offset + 1] & 0x7F, offset + 2
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
            if opcode == 0x1:
                self.texts.append(bytes(buf[start : start + size]))
            offset = start + size
        del buf[:offset]

    def close(self) -> None:
        self.sock.close()


def in_thread(function, *args):
    """Run blocking code (the `pusher` SDK) in the hub's threadpool while the hub serves."""
    return gevent.get_hub().threadpool.apply(function, args)
