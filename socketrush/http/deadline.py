"""The deadlines of a WSGI handler: how long a connection may take to send each request head
(`handshake_timeout_ms`), how long a keep-alive connection may wait idle for its next one
(`keep_alive_timeout_ms`), and how long each request body may take once its head arrived
(`request_body_timeout_ms`).

Without them a client that sends nothing, or one byte a second (of its head, or of the body
its Content-Length or chunks promise), holds a descriptor and a greenlet for as long as it
likes. The head's deadline is a `gevent.Timeout` raised in the handler's greenlet: it
interrupts a blocked read wherever gevent's handler is, and is stopped as soon as a request
head is read (`get_environ`), so no application code ever runs under it. The body's bounds
only the reads of the body (`BodyDeadline`), whoever makes them: the application, or gevent
discarding what the application did not read.

Between two requests of a keep-alive connection the deadline waits for the next request's
first byte: an idle connection is not a slow one. Closing it after the short head deadline
made clients that pool connections (the Pusher SDKs' HTTP agents) lose publishes: a client
that picks a pooled connection at the moment the server closes it gets a reset, and an event
POST is not retried. The idle wait is long (above the 60 s of common load balancers), so the
client, not the server, usually ends an idle connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent
from gevent.pywsgi import WSGIHandler

from socketrush import metrics


class BodyTimeout(Exception):
    """A request body did not arrive in time. (Not a ValueError or OSError: Werkzeug's form
    parser would take the one for a malformed form, gevent the other for a dropped client.)"""


class BodyDeadline:
    """The handler's request stream while a body is read: each read may take what is left of
    the body's time, and raises `BodyTimeout` once it is spent (counted once per request)."""

    __slots__ = ("_rfile", "_expires", "_expired")

    def __init__(self, rfile, seconds: float) -> None:
        self._rfile = rfile
        self._expires = time.monotonic() + seconds
        self._expired = False

    def read(self, size: int = -1) -> bytes:
        return self._within(self._rfile.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self._within(self._rfile.readline, size)

    def _within(self, read: Callable[[int], bytes], size: int) -> bytes:
        left = self._expires - time.monotonic()
        if left > 0:
            timer = gevent.Timeout.start_new(left)
            try:
                return read(size)
            except gevent.Timeout as expired:
                if expired is not timer:
                    raise
            finally:
                timer.close()
        if not self._expired:
            self._expired = True
            metrics.REQUEST_BODY_TIMEOUTS.inc()
        raise BodyTimeout("request body not received in time")


class HeadDeadline(WSGIHandler):
    """A mixin for gevent WSGI handlers. `_deadline` is the started deadline of the first
    request head (None: none); it is started again for each further head of a keep-alive
    connection once the head's first byte arrived, within `_idle_seconds` (None: at once).
    `handle` counts and swallows its expiry (the handler closes the socket).
    `_body_seconds` (None: no deadline) is each request body's time."""

    _deadline: gevent.Timeout | None = None
    _idle_seconds: float | None = None
    _body_seconds: float | None = None

    def handle(self) -> None:
        try:
            super().handle()
        except gevent.Timeout as expired:
            if expired is not self._deadline:
                raise
            metrics.HANDSHAKE_TIMEOUTS.inc()
        finally:
            if self._deadline is not None:
                self._deadline.cancel()

    def handle_one_request(self):
        deadline = self._deadline
        if deadline is not None and not deadline.pending:  # a keep-alive connection's next
            if self._idle_seconds is not None and not self._next_request_began():
                return None  # idle too long, or the client left: close the connection
            deadline.start()
        return super().handle_one_request()

    def _next_request_began(self) -> bool:
        """Wait up to `_idle_seconds` for the first byte of the next request (it stays in the
        read buffer for the head's parser); False at the end of the stream or the wait."""
        with gevent.Timeout(self._idle_seconds, False):
            try:
                return bool(self.rfile.peek(1))
            except OSError:
                return False
        return False

    def get_environ(self) -> dict:
        """Called once the request head is read: the head's deadline is met, and the body's
        runs from here."""
        if self._deadline is not None:
            self._deadline.cancel()
        environ = super().get_environ()
        if self._body_seconds is not None:
            body = BodyDeadline(self.rfile, self._body_seconds)
            self.wsgi_input.rfile = body  # what gevent reads, and discards after the response
            if environ.get("wsgi.input") is self.rfile:  # a request naming an upgrade
                environ["wsgi.input"] = body
        return environ

    def handle_error(self, t, v, tb) -> None:
        """A body that ran out of time while gevent discarded it after the response (the
        application answered without reading it all): the connection is closed (what is left
        of the body could not be told from a next request), and that is no error to log."""
        if isinstance(v, BodyTimeout):
            self.close_connection = True
            return
        super().handle_error(t, v, tb)
