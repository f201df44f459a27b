"""`Wire`: a connection's gevent socket, seen from below gevent's cooperative API.

Reading and writing without a greenlet per direction (see inbound.py and outbox.py) means
working under gevent's socket objects: the OS socket a gevent socket wraps (`_sock`), the
OpenSSL object of a TLS socket (`_sslobj`) and the libev watcher that says the descriptor is
readable (`_read_event`). Those attributes are gevent's private business and may change
between its versions, so they are touched here and nowhere else in the server.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
from _socket import socket as OsSocket
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol

from gevent.hub import get_hub
from gevent.ssl import SSLSocket

# A send that never waits: how many bytes the kernel (or OpenSSL) took; BlockingIOError
# when it took none.
Sender = Callable[[bytes], int]
# One read into a buffer of at most a size: the byte count, 0 at the end of the stream;
# BlockingIOError for none yet, another OSError when the stream failed.
Receiver = Callable[[bytearray, int], int]


class Watcher(Protocol):
    """A libev watcher, as far as its owner stops it."""

    def stop(self) -> None: ...


def _tls_object(gevent_socket) -> ssl.SSLObject | None:
    """The OpenSSL object of a gevent TLS socket; None for a plain one. (Asking a plain gevent
    socket for `_sslobj` goes through its `__getattr__` and raises inside it: about a
    microsecond and a half, three times per connection.)"""
    if isinstance(gevent_socket, SSLSocket):
        return gevent_socket._sslobj
    return None


def _read_tls(sslobj: ssl.SSLObject, buffer: bytearray, size: int) -> int:
    """One OpenSSL read for `Wire.receiver`: no whole record yet is BlockingIOError."""
    try:
        return sslobj.read(size, buffer)
    except ssl.SSLWantReadError:
        raise BlockingIOError from None


def peek_now(os_socket: OsSocket, size: int) -> bytes | None:
    """Up to `size` bytes already received on a non-blocking OS socket, left unread; None
    when none have arrived yet (b"" at the end of the stream). Never waits."""
    try:
        return os_socket.recv(size, socket.MSG_PEEK)
    except BlockingIOError:
        return None


class Wire:
    """One connection's socket (plain or TLS). Holds nothing but the gevent socket, so an idle
    connection pays one small object for it."""

    __slots__ = ("_socket",)

    def __init__(self, gevent_socket) -> None:
        self._socket = gevent_socket

    @property
    def is_tls(self) -> bool:
        return _tls_object(self._socket) is not None

    def fileno(self) -> int:
        return self._socket.fileno()

    def set_nodelay(self) -> None:
        """Frames are complete messages: send each at once instead of waiting for Nagle's
        algorithm to batch it with the next one (40 ms stalls with delayed ACKs)."""
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- reading (see inbound.py) --

    def receiver(self) -> Receiver:
        """A function that makes one non-blocking read: `receive(buffer, size)`.

        Plain sockets: the OS socket's own `recv_into` (no Python frame around it). TLS: one
        OpenSSL read; OpenSSL asks to write while reading only to answer the peer
        (renegotiation, a key update) and when the socket's send buffer is full: the peer is
        not reading, so that is raised as an `SSLError` (an OSError), the end of the stream
        to the caller, as a slow consumer would be.
        """
        sslobj = _tls_object(self._socket)
        if sslobj is None:
            return self._socket._sock.recv_into
        return functools.partial(_read_tls, sslobj)

    def watch_readable(self, callback: Callable[[], None]) -> Watcher:
        """Call `callback` from the event loop whenever the socket is readable (level
        triggered) until the returned watcher's `stop()`.

        A TLS socket may hold bytes OpenSSL decrypted before watching began (the rest of the
        record the upgrade request arrived in): no readiness event will announce them, so the
        callback also runs once soon, unless stopped meanwhile.
        """
        readable = self._socket._read_event
        readable.start(callback)
        sslobj = _tls_object(self._socket)
        if sslobj is not None and sslobj.pending():

            def first_look() -> None:
                if readable.active:
                    callback()

            get_hub().loop.run_callback(first_look)
        return readable

    def take_buffered(self, rfile: BinaryIO, limit: int) -> bytes:
        """Bytes an HTTP parser's buffered reader `rfile` read past the request, taken
        without blocking (they belong to the WebSocket)."""
        timeout = self._socket.gettimeout()
        self._socket.settimeout(0.0)
        try:
            return rfile.read1(limit) or b""
        except OSError:
            return b""
        finally:
            self._socket.settimeout(timeout)

    # -- writing (see outbox.py) --

    def sender(self) -> tuple[Sender, bool]:
        """A send that never waits, and whether queued frames may be joined into one send.

        Plain sockets: the OS socket's own `send` (already non-blocking under gevent's
        wrapper), called once per recipient of every broadcast with no Python frame around it:
        no gevent bookkeeping, no `sendall` getsockopt call. TLS: write through OpenSSL (never
        to the descriptor); OpenSSL wants a retry with the same leading bytes, so queued
        frames are not joined.
        """
        sslobj = _tls_object(self._socket)
        if sslobj is None:
            return self._socket._sock.send, True

        def send_tls(data: bytes) -> int:
            try:
                return sslobj.write(data)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                raise BlockingIOError from None

        return send_tls, False

    # -- ending --

    def abort(self) -> None:
        """Cut the TCP connection at once, in both directions: a pending read sees the end of
        the stream, and the peer a reset or end of stream."""
        with contextlib.suppress(OSError):
            self._socket._sock.shutdown(socket.SHUT_RDWR)

    def end_writing(self) -> None:
        """Send our end of the stream (a FIN) and keep reading: after a close frame that the
        peer's garbled stream cannot answer, its end of the stream is the answer."""
        with contextlib.suppress(OSError):
            self._socket._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._socket.close()


class RawWire(Wire):
    """A plain connection on the OS socket itself, with no gevent socket object around it
    (`socketrush serve` accepts plain connections so, see http/server.py): one libev watcher
    for readability instead of gevent's two, and a close that is the watcher's and the
    descriptor's, without gevent's hand-over of its waiters to the event loop.

    Measured (loadtests/instructions.py): building gevent's socket object was ~17,000
    instructions of a connect, and its close a share of every close."""

    __slots__ = ("_watcher",)

    def __init__(self, os_socket: socket.socket) -> None:
        super().__init__(os_socket)
        self._watcher: Any = None

    @property
    def is_tls(self) -> bool:
        return False

    def receiver(self) -> Receiver:
        return self._socket.recv_into

    def watch_readable(self, callback: Callable[[], None]) -> Watcher:
        watcher = self._watcher
        if watcher is None:
            watcher = self._watcher = get_hub().loop.io(self._socket.fileno(), 1)
        watcher.start(callback)
        return watcher

    def sender(self) -> tuple[Sender, bool]:
        return self._socket.send, True

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)

    def end_writing(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """The watcher first: libev must not watch a descriptor number the kernel may hand
        to the next connection."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
            watcher.close()
        self._socket.close()


def wire_for(sock: Any) -> Wire:
    """The wire for a connection's socket: gevent's (plain or TLS), or the OS socket itself."""
    return RawWire(sock) if type(sock) is OsSocket else Wire(sock)
