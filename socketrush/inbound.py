"""The inbound half of a WebSocket connection: read the socket with as few system calls and
greenlet switches as possible.

A connection's greenlet waiting for readability costs, per message, a waiter, a watcher start
and stop and two greenlet switches (hub -> connection -> hub): a few microseconds, which is a
tenth of a relayed client event. So a socket is read by an event-loop callback instead: the
loop calls it when the socket is readable (level-triggered) and it hands the bytes to the
connection. Under `serve` no greenlet waits meanwhile (`watch_reads`); elsewhere the
connection's greenlet waits only for the end of the stream (`read_until_done`). What the
connection does with the bytes must therefore never block; it only parses, checks and hands
frames to outboxes and actors (tell, never ask).

TLS sockets are read the same way, through their OpenSSL object: one read per readiness, as
OpenSSL takes each record from the kernel as it needs it (no read-ahead), so bytes it has not
decrypted yet keep the socket readable. Only bytes decrypted before watching began (the rest
of the record the upgrade request arrived in) wake no watcher: those are read once at once.

Reads go into one buffer shared by every connection of the process and come back as a view
of it, instead of a fresh 64 KB bytes object per read. That is safe because the consumer runs
to completion before anything else can read: it must copy or consume the view before it
returns (the frame parser copies it into its own buffer at once).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from gevent.hub import Waiter, get_hub

READ_CHUNK = 65536

# Takes the next bytes of the stream; returns False when the connection wants no more.
Consumer = Callable[[memoryview | bytes], bool]
# Reads into the shared buffer: the byte count, 0 at the end of the stream, None for none yet.
_Read = Callable[[], int | None]

_shared = bytearray(READ_CHUNK)
_shared_view = memoryview(_shared)


def read_until_done(sock, consume: Consumer) -> None:
    """Feed `consume` the stream of `sock` (a gevent socket, plain or TLS) until it returns
    False or the stream ends (end of stream, a reset, or the socket shut down under us).

    Blocks the calling greenlet meanwhile; an exception from `consume` is raised here.
    """
    waiter = Waiter()

    def ended(error: BaseException | None) -> None:
        if error is None:
            waiter.switch(None)
        else:
            waiter.throw(error)

    stop = watch_reads(sock, consume, ended)
    try:
        waiter.get()
    finally:
        stop()


def watch_reads(
    sock, consume: Consumer, ended: Callable[[BaseException | None], None]
) -> Callable[[], None]:
    """Feed `consume` the stream of `sock` (a gevent socket, plain or TLS) from the event
    loop, without a greenlet waiting; returns a function that stops it early. When the stream
    ends or `consume` returns False, the watcher stops and `ended(None)` is called; when
    `consume` raises, `ended(error)`. `ended` runs in the event loop: it must not block."""
    readable = sock._read_event
    sslobj = getattr(sock, "_sslobj", None)
    read = _plain_reader(sock._sock) if sslobj is None else _tls_reader(sslobj)

    def on_readable() -> None:
        size = read()
        if size is None:  # a spurious wake-up, or only part of a TLS record so far
            return
        try:
            more = size > 0 and consume(_shared_view[:size])
        except BaseException as error:  # the connection's bug: its owner reports it
            readable.stop()
            ended(error)
            return
        if not more:
            readable.stop()
            ended(None)

    readable.start(on_readable)
    if sslobj is not None and sslobj.pending():  # decrypted already: no readiness to come

        def first_look() -> None:
            if readable.active:  # not stopped meanwhile
                on_readable()

        get_hub().loop.run_callback(first_look)
    return readable.stop


def _plain_reader(raw_socket) -> _Read:
    """One `recv` into the shared buffer (the non-blocking OS socket under gevent's)."""
    recv_into = raw_socket.recv_into

    def read() -> int | None:
        try:
            return recv_into(_shared, READ_CHUNK)
        except BlockingIOError:
            return None
        except OSError:
            return 0

    return read


def _tls_reader(sslobj) -> _Read:
    """One OpenSSL read into the shared buffer.

    OpenSSL asks to write while reading only to answer the peer (renegotiation, a key
    update) and when the socket's send buffer is full: the peer is not reading, so it is
    treated as the end of the stream, as a slow consumer would be."""

    def read() -> int | None:
        try:
            return sslobj.read(READ_CHUNK, _shared)
        except ssl.SSLWantReadError:
            return None
        except (ssl.SSLError, OSError):  # close_notify, ragged EOF, want-write, a reset
            return 0

    return read
