"""The inbound half of a WebSocket connection: read the socket with as few system calls and
greenlet switches as possible.

A connection's greenlet waiting for readability costs, per message, a waiter, a watcher start
and stop and two greenlet switches (hub -> connection -> hub): a few microseconds, which is a
tenth of a relayed client event. So a plain socket is read by an event-loop callback instead:
the loop calls it when the socket is readable (level-triggered, so each call's one `recv`
finds bytes) and hands them to the connection. Under `serve` no greenlet waits meanwhile
(`watch_reads`); elsewhere the connection's greenlet waits only for the end of the stream
(`read_until_done`). What the connection does with the bytes must therefore never block; it
only parses, checks and hands frames to outboxes and actors (tell, never ask).

Reads go into one buffer shared by every connection of the process and come back as a view
of it, instead of a fresh 64 KB bytes object per read. That is safe because the consumer runs
to completion before anything else can read: it must copy or consume the view before it
returns (the frame parser copies it into its own buffer at once).
"""

from __future__ import annotations

from collections.abc import Callable

from gevent.hub import Waiter

READ_CHUNK = 65536

# Takes the next bytes of the stream; returns False when the connection wants no more.
Consumer = Callable[[memoryview | bytes], bool]

_shared = bytearray(READ_CHUNK)
_shared_view = memoryview(_shared)


def read_until_done(sock, consume: Consumer) -> None:
    """Feed `consume` the stream of `sock` (a gevent socket) until it returns False or the
    stream ends (end of stream, a reset, or the socket shut down under us).

    Blocks the calling greenlet meanwhile; an exception from `consume` is raised here. TLS
    sockets are read by this greenlet with gevent's own `recv`, which knows when OpenSSL
    already holds decrypted bytes.
    """
    if is_tls(sock):
        _read_tls(sock, consume)
        return
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


def is_tls(sock) -> bool:
    """TLS sockets cannot be watched with `watch_reads` (see `read_until_done`)."""
    return getattr(sock, "_sslobj", None) is not None


def watch_reads(
    sock, consume: Consumer, ended: Callable[[BaseException | None], None]
) -> Callable[[], None]:
    """Feed `consume` the stream of plain socket `sock` from the event loop, without a
    greenlet waiting; returns a function that stops it early. When the stream ends or
    `consume` returns False, the watcher stops and `ended(None)` is called; when `consume`
    raises, `ended(error)`. `ended` runs in the event loop: it must not block."""
    recv_into = sock._sock.recv_into  # the non-blocking OS socket under gevent's wrapper
    readable = sock._read_event

    def on_readable() -> None:
        try:
            size = recv_into(_shared, READ_CHUNK)
        except BlockingIOError:  # spurious wake-up
            return
        except OSError:
            size = 0
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
    return readable.stop


def _read_tls(sock, consume: Consumer) -> None:
    while True:
        try:
            data = sock.recv(READ_CHUNK)
        except OSError:
            return
        if not data or not consume(data):
            return
