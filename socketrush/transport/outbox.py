"""The outbound half of a WebSocket connection: ordered, bounded, and cheap when idle.

Why it looks like this (measured, see the performance issue): a writer greenlet per socket
that wakes for every message costs ~10 KB per idle socket and breaks p99 at thousands of
subscribers, and gevent's `sendall` makes a `getsockopt` system call on every write. So the
broadcaster writes straight to the socket with one non-blocking `send` of the already framed
bytes; only when the kernel buffer is full does the rest wait in a backlog, drained by a writer
greenlet that exists only while there is a backlog. A backlog over the limit means the peer is
not reading: the connection is closed as a slow consumer instead of growing memory.

Greenlets are cooperative and `offer` never yields, so broadcasters on different greenlets
cannot interleave inside it and each socket keeps the order frames were offered in.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import gevent
from gevent.socket import wait_write

from socketrush.transport.wire import Wire

log = logging.getLogger(__name__)


class Outbox:
    """Write side of one socket. `on_overflow` is called once when the backlog limit is passed."""

    __slots__ = (
        "_send",
        "_coalesce",
        "_fileno",
        "_backlog",
        "_backlog_bytes",
        "_limit",
        "_writer",
        "_on_overflow",
        "closed",
    )

    def __init__(self, wire: Wire, limit_bytes: int, on_overflow: Callable[[], None]) -> None:
        wire.set_nodelay()
        self._send, self._coalesce = wire.sender()
        self._fileno = wire.fileno()
        self._backlog: deque[bytes] | None = None  # a deque is ~0.6 KB: only while needed
        self._backlog_bytes = 0
        self._limit = limit_bytes
        self._writer: gevent.Greenlet | None = None
        self._on_overflow = on_overflow
        self.closed = False

    @property
    def backlog_bytes(self) -> int:
        return self._backlog_bytes

    @property
    def has_writer(self) -> bool:
        """True only while a backlog is being drained (idle sockets hold no greenlet)."""
        return self._writer is not None

    def offer(self, frame: bytes) -> None:
        """Send `frame` now if the kernel takes it, else queue it behind earlier frames."""
        if self.closed:
            return
        backlog = self._backlog
        if backlog is None:
            try:
                sent = self._send(frame)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.closed = True
                return
            if sent == len(frame):
                return
            frame = frame[sent:]
            backlog = self._backlog = deque()
        backlog.append(frame)
        self._backlog_bytes += len(frame)
        if self._backlog_bytes > self._limit:
            self._overflow()
            return
        if self._writer is None:
            self._writer = gevent.spawn(self._drain)

    def flush(self, timeout: float) -> bool:
        """Wait (cooperatively) until the backlog is written; False if it was not in time."""
        writer = self._writer
        if writer is None:
            return True
        writer.join(timeout)
        return not self._backlog

    def close(self) -> None:
        """Stop writing; queued frames are dropped and the writer greenlet ends."""
        self.closed = True
        self._backlog = None
        self._backlog_bytes = 0
        writer, self._writer = self._writer, None
        if writer is not None and writer is not gevent.getcurrent():
            writer.kill(block=False)

    def _overflow(self) -> None:
        log.info("slow consumer: %d bytes queued (limit %d)", self._backlog_bytes, self._limit)
        self.close()
        self._on_overflow()

    def _drain(self) -> None:
        try:
            while self._backlog and not self.closed:
                wait_write(self._fileno)
                backlog = self._backlog
                if backlog is None:  # closed while we waited
                    break
                # Join what has piled up into one send: fewer system calls under load.
                if self._coalesce and len(backlog) > 1:
                    chunk = b"".join(backlog)
                    backlog.clear()
                    backlog.append(chunk)
                chunk = backlog[0]
                try:
                    sent = self._send(chunk)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    self.closed = True
                    break
                if sent == 0:
                    gevent.sleep(0.005)  # TLS wanted a read first: let the reader run
                    continue
                backlog.popleft()
                self._backlog_bytes -= sent
                if sent < len(chunk):
                    backlog.appendleft(chunk[sent:])
        finally:
            if not self._backlog:
                self._backlog = None
            if self._writer is gevent.getcurrent():
                self._writer = None
