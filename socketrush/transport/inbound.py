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
decrypted yet keep the socket readable (see `Wire.watch_readable` for the bytes decrypted
before watching began).

Reads go into one buffer shared by every connection of the process and come back as a view
of it, instead of a fresh 64 KB bytes object per read. That is safe because the consumer runs
to completion before anything else can read: it must copy or consume the view before it
returns (the frame parser copies it into its own buffer at once).
"""

from __future__ import annotations

from collections.abc import Callable

from gevent.hub import Waiter

from socketrush.transport.wire import Wire

READ_CHUNK = 65536

# Takes the next bytes of the stream; returns False when the connection wants no more.
Consumer = Callable[[memoryview | bytes], bool]

_shared = bytearray(READ_CHUNK)
_shared_view = memoryview(_shared)


def read_until_done(wire: Wire, consume: Consumer) -> None:
    """Feed `consume` the stream of `wire` until it returns False or the stream ends (end of
    stream, a reset, or the socket shut down under us).

    Blocks the calling greenlet meanwhile; an exception from `consume` is raised here.
    """
    waiter = Waiter()

    def ended(error: BaseException | None) -> None:
        if error is None:
            waiter.switch(None)
        else:
            waiter.throw(error)

    stop = watch_reads(wire, consume, ended)
    try:
        waiter.get()
    finally:
        stop()


def watch_reads(
    wire: Wire, consume: Consumer, ended: Callable[[BaseException | None], None]
) -> Callable[[], None]:
    """Feed `consume` the stream of `wire` from the event loop, without a greenlet waiting;
    returns a function that stops it early. When the stream ends or `consume` returns False,
    the watcher stops and `ended(None)` is called; when `consume` raises, `ended(error)`.
    `ended` runs in the event loop: it must not block."""
    return Reads(wire, consume, ended).stop


class Reads:
    """One watched stream; the event loop calls it whenever the socket is readable.

    One object with four slots rather than nested closures: a closure per part (the read,
    the callback, the stop) cost each connection eleven more objects for the collector to
    walk, measured in its instructions per connect (loadtests/instructions.py)."""

    __slots__ = ("_receive", "_consume", "_ended", "_watcher")

    def __init__(
        self, wire: Wire, consume: Consumer, ended: Callable[[BaseException | None], None]
    ) -> None:
        self._receive = wire.receiver()
        self._consume = consume
        self._ended = ended
        self._watcher = wire.watch_readable(self)

    def __call__(self) -> None:
        try:
            size = self._receive(_shared, READ_CHUNK)
        except BlockingIOError:  # a spurious wake-up, or only part of a TLS record so far
            return
        except OSError:  # a reset, or TLS ended (close_notify, ragged EOF, want-write)
            size = 0
        try:
            more = size > 0 and self._consume(_shared_view[:size])
        except BaseException as error:  # the connection's bug: its owner reports it
            self.stop()
            self._ended(error)
            return
        if not more:
            self.stop()
            self._ended(None)

    def stop(self) -> None:
        self._watcher.stop()
