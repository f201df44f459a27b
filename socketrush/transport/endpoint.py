"""`Endpoint`: the RFC 6455 side of one connection — frames in, frames out, the closing
handshake — below the Pusher protocol.

The connection (socketrush/connection/) owns an endpoint and is its `Peer`: the endpoint
parses the client's bytes into messages, answers pings and close frames itself, and hands the
peer each text message. Everything the endpoint does with a message must be non-blocking, as it
runs in an event-loop callback (see inbound.py).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import BinaryIO, NamedTuple, Protocol

from actors import Cancellable
from actors.runners import run_soon
from socketrush import metrics
from socketrush.protocol.websocket import (
    FrameParser,
    ProtocolViolation,
    close_frame,
    pong_frame,
)
from socketrush.tally import Tally, tally
from socketrush.transport.inbound import READ_CHUNK, read_until_done, watch_reads
from socketrush.transport.outbox import Outbox
from socketrush.transport.wire import Wire

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024  # larger client messages are refused before they are buffered
CLOSE_HANDSHAKE_SECONDS = 2.0  # how long a peer gets to answer our close frame
NO_CLOSE_FRAME = 1006  # RFC 6455: the connection ended without a close frame
NO_STATUS = 1005  # RFC 6455: the peer's close frame had no code


class Peer(Protocol):
    """What an endpoint needs of its connection. Called from the event loop: never block."""

    def on_text(self, text: str) -> None:
        """A complete text message (valid UTF-8)."""

    def on_binary(self) -> None:
        """A complete binary message (Pusher has none)."""

    def on_violation(self, violation: ProtocolViolation) -> None:
        """The client broke RFC 6455: the connection closes (`violation.spec` says how); the
        endpoint parses nothing more."""

    def on_slow_consumer(self) -> None:
        """The outbound backlog passed its limit: the endpoint has cut the connection."""

    def on_frame_timeout(self) -> None:
        """A frame started more than the frame timeout ago is still incomplete: the
        connection closes (a slow or stalled client)."""

    def on_stream_end(self, error: BaseException | None) -> None:
        """A released stream (see `Endpoint.read`) ended; called in a greenlet, which may
        block; `error` is a bug raised while handling the stream."""


class Counters(NamedTuple):
    """One app's message and byte counts: tallies, bound once per app rather than per count."""

    messages_in: Tally
    bytes_in: Tally
    messages_out: Tally
    bytes_out: Tally


@functools.cache
def counters(app_id: str) -> Counters:
    return Counters(
        tally(metrics.MESSAGES_IN.labels(app_id)),
        tally(metrics.BYTES_IN.labels(app_id)),
        tally(metrics.MESSAGES_OUT.labels(app_id)),
        tally(metrics.BYTES_OUT.labels(app_id)),
    )


class Endpoint:
    """One WebSocket connection's frames. `close_code` is what the connection ended with, for
    the metrics: ours or the peer's, NO_CLOSE_FRAME until either is known."""

    __slots__ = (
        "wire",
        "outbox",
        "counters",
        "closing",
        "close_code",
        "last_seen",
        "_peer",
        "_rfile",
        "_response_head",
        "_parser",
        "_hard_close_timer",
        "_frame_timeout",
        "_frame_timer",
    )

    def __init__(
        self,
        wire: Wire,
        rfile: BinaryIO | None,
        response_head: bytes,
        peer: Peer,
        backlog_limit_bytes: int,
        frame_timeout: float,
    ) -> None:
        """`rfile` is the buffered reader gevent's HTTP parser read the request from (it may
        hold the first frames), None on the plain-upgrade path, where nothing read ahead;
        `response_head` is the 101 response when it has not been sent
        yet: it then goes out with the first frame, in one send. A frame must arrive whole
        within `frame_timeout` seconds of its first byte."""
        self.wire = wire
        self.outbox = Outbox(wire, backlog_limit_bytes, on_overflow=self._overflowed)
        self.counters = counters("")
        self.closing = False
        self.close_code = NO_CLOSE_FRAME
        self.last_seen = time.monotonic()
        self._peer = peer
        self._rfile = rfile
        self._response_head = response_head
        self._parser = FrameParser(MAX_MESSAGE_BYTES)
        self._hard_close_timer: Cancellable | None = None
        self._frame_timeout = frame_timeout
        self._frame_timer: Cancellable | None = None

    # -- writing --

    def send(self, frame: bytes) -> None:
        """A frame the connection sends of its own accord (hello, pong, errors, close), counted
        here; broadcasts go to `outbox.offer` directly and are counted per broadcast."""
        if self._response_head:  # the first frame completes the upgrade, in the same send
            self.outbox.offer(self._response_head + frame)
            self._response_head = b""
        else:
            self.outbox.offer(frame)
        counts = self.counters
        counts.messages_out.pending += 1
        counts.bytes_out.pending += len(frame)

    # -- reading --

    def take_buffered(self) -> bytes:
        """Bytes the HTTP parser read past the upgrade request (the first frames, if any)."""
        if self._rfile is None:
            return b""
        return self.wire.take_buffered(self._rfile, READ_CHUNK)

    def read(self, leftover: bytes, release: bool) -> bool:
        """Handle the client's frames, `leftover` first, until the connection ends, and return
        False; or, with `release`, from the event loop once this returns True: the peer then
        hears of the end through `Peer.on_stream_end`, and the socket is closed after it."""
        # Read the socket itself, not the HTTP server's buffered rfile: its `read1` allocates
        # its whole result buffer before it blocks, ~11 KB of RSS per parked connection.
        if leftover and not self._take(leftover):
            return False
        if release:
            if self._rfile is not None:  # it holds a reference on the socket: without it,
                self._rfile.close()  # `close` closes
                self._rfile = None
            watch_reads(self.wire, self._take, self._stream_ended)
            return True
        read_until_done(self.wire, self._take)
        return False

    def _stream_ended(self, error: BaseException | None) -> None:
        """A released stream's end, seen in the event loop: finish in a greenlet, since the
        peer's cleanup waits for the last frames to go out."""
        run_soon(functools.partial(self._finish_released, error))

    def _finish_released(self, error: BaseException | None) -> None:
        try:
            self._peer.on_stream_end(error)
        finally:
            self.wire.close()

    def _take(self, data: bytes | memoryview) -> bool:
        """The next bytes from the client; False once the connection wants no more."""
        self.last_seen = time.monotonic()
        counts = self.counters
        counts.bytes_in.pending += len(data)
        text = self._parser.lone_text(data)
        if text is not None:  # one whole small text frame, nothing pending: most reads
            counts.messages_in.pending += 1
            if not self.closing:
                self._peer.on_text(text)
            return True
        try:
            messages = self._parser.feed_general(data)
        except ProtocolViolation as violation:
            # The parser raises again on every later feed: what follows is discarded. Reading
            # on (until the client closes or the hard-close timer cuts it) keeps the rest of
            # a refused frame from sitting unread in the kernel, where closing the socket would
            # reset the connection and could lose our close frame on its way.
            if not self.closing:
                self._peer.on_violation(violation)  # the peer closes, as the table says
                if not self.outbox.backlog_bytes:  # the close frame is out: end our side
                    self.wire.end_writing()
            return True
        if messages:
            counts.messages_in.pending += len(messages)
        if self._parser.in_frame:  # the rest of a frame is owed: not forever
            if self._frame_timer is None:
                self._frame_timer = Cancellable.after(self._frame_timeout, self._frame_expired)
        elif self._frame_timer is not None:
            self._frame_timer.cancel()
            self._frame_timer = None
        peer = self._peer
        for message in messages:
            kind = message.kind
            if kind == "text":
                if not self.closing:
                    peer.on_text(message.payload)
            elif kind == "close":
                if not self.closing:
                    # Echo the peer's close, as RFC 6455 asks, then we are done.
                    self.close_code = message.close_code or NO_STATUS
                    self.send(close_frame(message.close_code or 1000))
                return False
            elif kind == "ping":
                self.send(pong_frame(message.payload))
            elif kind == "binary" and not self.closing:
                peer.on_binary()
        return True

    # -- closing --

    def start_close(self, code: int, reason: str) -> None:
        """Send a close frame; the peer has CLOSE_HANDSHAKE_SECONDS to answer it before the
        TCP connection is cut."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        self.send(close_frame(code, reason))
        self._hard_close_timer = Cancellable.after(CLOSE_HANDSHAKE_SECONDS, self.wire.abort)

    def _frame_expired(self) -> None:
        self._frame_timer = None
        if not self.closing:
            self._peer.on_frame_timeout()

    def _overflowed(self) -> None:
        """The backlog is over the limit, so no close frame can get through: cut the TCP
        connection (the reader then ends and the connection cleans up)."""
        self.closing = True
        self._peer.on_slow_consumer()
        self.wire.abort()

    def finish(self) -> None:
        """After the stream ended: let the last frames go out (bounded), then stop writing."""
        for timer in (self._hard_close_timer, self._frame_timer):
            if timer is not None:
                timer.cancel()
        self.outbox.flush(CLOSE_HANDSHAKE_SECONDS)
        self.outbox.close()
