"""Hostile handshakes against a real server: slowloris (headers a byte at a time), many
half-open TCP connections that never speak, oversize headers. Well-behaved clients keep
connecting meanwhile, each within a bounded time; oversize headers are refused; and the
handshakes that never finish are cut off (the handshake deadline of issue 18)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import gevent
import pytest
from gevent import socket as gsocket

from loadtests.rawws import RawPusher
from tests.support.server import APP_KEY, ServerProcess

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
SLOWLORIS = 200
HALF_OPEN = 300
WELL_BEHAVED = 30
HANDSHAKE_BOUND = 2.0  # seconds for a well-behaved connect while under attack (loaded machine)
DEADLINE_BOUND = 10.0  # "a few seconds, configurable" (issue 18): generous
REQUEST = (
    f"GET /app/{APP_KEY}?protocol=7 HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
).encode()


class Attack:
    """Slowloris connections dripping one header byte every half second, and connections
    that send nothing at all; all on gevent sockets of this process."""

    def __init__(self, port: int) -> None:
        self.idle = [gsocket.create_connection((HOST, port)) for _ in range(HALF_OPEN)]
        self.slow = [gsocket.create_connection((HOST, port)) for _ in range(SLOWLORIS)]
        self._drips = [gevent.spawn(self._drip, sock) for sock in self.slow]

    @staticmethod
    def _drip(sock) -> None:
        with contextlib.suppress(OSError):
            sock.sendall(REQUEST)  # everything but the blank line ending the headers
            for byte in b"X-Slow: " + b"a" * 10_000:
                sock.sendall(bytes([byte]))
                gevent.sleep(0.5)

    def still_open(self) -> int:
        """How many attacking connections the server has not closed."""
        open_ = 0
        for sock in self.idle + self.slow:
            sock.setblocking(False)
            try:
                open_ += sock.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                open_ += 1
            except OSError:
                pass
        return open_

    def stop(self) -> None:
        gevent.killall(self._drips)
        for sock in self.idle + self.slow:
            sock.close()


@pytest.fixture(scope="module")
def attacked() -> Iterator[tuple[ServerProcess, Attack]]:
    with ServerProcess() as server:
        attack = Attack(server.port)
        gevent.sleep(1.0)  # the attack is in place
        try:
            yield server, attack
        finally:
            attack.stop()


def test_well_behaved_clients_connect_in_bounded_time_under_attack(attacked) -> None:
    server, _ = attacked
    slowest = 0.0
    for _ in range(WELL_BEHAVED):
        started = time.monotonic()
        client = RawPusher(HOST, server.port, APP_KEY, timeout=HANDSHAKE_BOUND * 5)
        slowest = max(slowest, time.monotonic() - started)
        client.subscribe("calm")
        client.close()
    assert slowest < HANDSHAKE_BOUND
    assert "Traceback" not in server.log()


def test_oversize_headers_are_refused(attacked) -> None:
    server, _ = attacked
    for request in (
        REQUEST + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n",  # one huge header
        REQUEST + b"".join(b"X-H%d: v\r\n" % n for n in range(5000)) + b"\r\n",  # very many
    ):
        with socket.create_connection((HOST, server.port), timeout=5) as sock:
            with contextlib.suppress(ConnectionResetError):  # refused before all was read
                sock.sendall(request)
            assert sock.recv(64).startswith(b"HTTP/1.1 400 ")
    RawPusher(HOST, server.port, APP_KEY).close()  # and it still serves


def test_handshakes_that_never_finish_are_cut_off(attacked) -> None:
    _, attack = attacked
    deadline = time.monotonic() + DEADLINE_BOUND
    while attack.still_open() and time.monotonic() < deadline:
        gevent.sleep(0.5)
    assert attack.still_open() == 0
