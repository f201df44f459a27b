"""Outbox over a real socket pair: idle sockets hold no writer, a full backlog is bounded."""

from __future__ import annotations

import socket as stdlib_socket

import gevent
from gevent import socket

from socketrush.transport.outbox import Outbox
from socketrush.transport.wire import Wire

FRAME = b"\x81\x7e\x10\x00" + b"x" * 4096  # a 4 KB text frame


def pair() -> tuple[socket.socket, socket.socket]:
    """A connected TCP pair on loopback with small buffers, so the kernel fills quickly."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.socket()
    client.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, 4096)
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    server.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_SNDBUF, 4096)
    listener.close()
    return server, client


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "EOF"
        data += chunk
    return bytes(data)


def fill_kernel(outbox: Outbox) -> int:
    """Offer frames until the kernel refuses some; returns how many were offered."""
    for offered in range(1, 10_000):
        outbox.offer(FRAME)
        if outbox.backlog_bytes:
            return offered
    raise AssertionError("the kernel never filled")


def test_idle_socket_sends_inline_without_a_writer_greenlet() -> None:
    server, client = pair()
    outbox = Outbox(Wire(server), 1024 * 1024, on_overflow=lambda: None)
    outbox.offer(b"\x81\x02hi")
    assert outbox.has_writer is False
    assert outbox.backlog_bytes == 0
    assert read_exactly(client, 4) == b"\x81\x02hi"
    assert outbox.has_writer is False


def test_writer_exists_only_while_a_backlog_drains() -> None:
    server, client = pair()
    outbox = Outbox(Wire(server), 1024 * 1024, on_overflow=lambda: None)
    offered = fill_kernel(outbox)
    assert outbox.has_writer is True
    reader = gevent.spawn(read_exactly, client, offered * len(FRAME))
    assert outbox.flush(timeout=10) is True
    assert reader.get(timeout=10) == FRAME * offered  # all of it, in order
    assert outbox.has_writer is False
    assert outbox.backlog_bytes == 0


def test_backlog_over_the_limit_closes_once_and_frees_the_queue() -> None:
    server, _client = pair()  # the peer never reads
    overflows: list[int] = []
    limit = 64 * 1024
    outbox = Outbox(Wire(server), limit, on_overflow=lambda: overflows.append(outbox.backlog_bytes))
    fill_kernel(outbox)
    for _ in range(limit // len(FRAME) + 1):
        outbox.offer(FRAME)
    assert overflows == [0]  # called once, after the queue was dropped
    assert outbox.closed is True
    assert outbox.has_writer is False
    outbox.offer(FRAME)  # later offers are ignored, memory does not grow
    assert outbox.backlog_bytes == 0
    assert overflows == [0]
