"""The handshake deadline of a WSGI handler: how long a connection may take to send each
request head (`handshake_timeout_ms`).

Without it a client that sends nothing, or one header byte a second, holds a descriptor and a
greenlet for as long as it likes. The deadline is a `gevent.Timeout` raised in the handler's
greenlet: it interrupts a blocked read wherever gevent's handler is, and is stopped as soon as
a request head is read (`get_environ`), so no application code ever runs under it.
"""

from __future__ import annotations

import gevent
from gevent.pywsgi import WSGIHandler

from socketrush import metrics


class HeadDeadline(WSGIHandler):
    """A mixin for gevent WSGI handlers. `_deadline` is the started deadline of the first
    request head (None: none); it is started again for each further head of a keep-alive
    connection. `handle` counts and swallows its expiry (the handler closes the socket)."""

    _deadline: gevent.Timeout | None = None

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
            deadline.start()
        return super().handle_one_request()

    def get_environ(self) -> dict:
        """Called once the request head is read: the deadline is met."""
        if self._deadline is not None:
            self._deadline.cancel()
        return super().get_environ()
