"""SocketActor: one per WebSocket connection, the Pusher side of it.

The WSGI handler greenlet that accepted the connection checks the app and the protocol and
says hello. Under `socketrush serve` it then hands the socket to the event loop and is free:
the loop feeds the client's bytes to the connection's `Endpoint` (socketrush/transport/), which
hands each text message here; the connection cleans up and closes the socket itself when the
stream ends, so an idle connection parks no greenlet at all. Under gunicorn the greenlet stays
and waits for the end instead.

Each message is parsed into a typed request (protocol/client_messages.py) and handled by the
module of its concern: subscriptions.py, signin.py, client_events.py. Everything other actors
send to a connection is already-framed bytes for its outbox, or a request to close, so it
needs no mailbox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from actors import ActorDeadError, Cancellable
from socketrush import metrics
from socketrush.app import AppActor, Connect, Disconnect
from socketrush.app_managers.base import AppManagerError
from socketrush.channels import ChannelActor
from socketrush.connection.activity import ACTIVITY
from socketrush.connection.client_events import relay
from socketrush.connection.signin import sign_in
from socketrush.connection.subscriptions import subscribe, unsubscribe
from socketrush.logtext import untrusted
from socketrush.protocol import frames
from socketrush.protocol.client_messages import (
    BadMessage,
    ClientEvent,
    Ping,
    Pong,
    SignIn,
    Subscribe,
    Unsubscribe,
    parse_client_message,
)
from socketrush.protocol.errors import (
    Err,
    ErrorSpec,
    SubscriptionRefusal,
    close_code_label,
    error_frame,
)
from socketrush.protocol.handshake import Handshake, protocol_refusal
from socketrush.protocol.ids import new_socket_id
from socketrush.protocol.origins import origin_allowed
from socketrush.protocol.websocket import ProtocolViolation, text_frame
from socketrush.ratelimit import PerSecondLimiter
from socketrush.transport.endpoint import Endpoint, counters
from socketrush.transport.wire import wire_for

if TYPE_CHECKING:
    from typing import BinaryIO

    from socketrush.node import Node

log = logging.getLogger(__name__)

_DRAIN_ERRORS = (Err.SERVER_SHUTTING_DOWN, Err.SERVER_DRAINING)


class SocketActor:
    """State: the app, the channels this socket asked for, its signed-in user, its timers."""

    __slots__ = (
        "node",
        "handshake",
        "socket_id",
        "app",
        "app_id",
        "endpoint",
        "send_frame",
        "channels",
        "channel_actors",
        "user_id",
        "watchlist",
        "client_events",
        "signin_timer",
        "_activity_tick",
        "_ping_sent_at",
        "_pong_wait",
        "__weakref__",
    )

    def __init__(
        self,
        node: Node,
        handshake: Handshake,
        sock,
        rfile: BinaryIO | None,
        response_head: bytes = b"",
    ) -> None:
        """`sock` is the gevent socket (or the OS socket, see `wire_for`), `rfile` the buffered reader the HTTP parser read the
        request from; `response_head` is the 101 response when it has not been sent yet."""
        self.node = node
        self.handshake = handshake
        self.socket_id = new_socket_id()
        self.app: AppActor | None = None
        self.app_id = ""  # metrics and log label; stays empty when the key matches no app
        settings = node.settings
        self.endpoint = Endpoint(
            wire_for(sock),
            rfile,
            response_head,
            self,
            settings.socket_backlog_limit_kb * 1024,
            settings.frame_timeout_ms / 1000,
        )
        # Other actors hand this connection frames with `send_frame`: the outbox's own method,
        # so a broadcast costs one Python call per recipient, not two.
        self.send_frame: Callable[[bytes], None] = self.endpoint.outbox.offer
        self.channels: dict[str, str | None] = {}  # name -> presence user id (or None)
        self.channel_actors: dict[str, ChannelActor] = {}  # set by the app: see channel_ready
        self.user_id: str | None = None
        self.watchlist: tuple[str, ...] = ()
        self.client_events: PerSecondLimiter | None = None
        self.signin_timer: Cancellable | None = None
        self._activity_tick = 0  # when its activity check is due (ACTIVITY), 0 for never
        self._ping_sent_at: float | None = None
        self._pong_wait = 30.0

    # -- what other actors may call (non-blocking) --

    def channel_ready(self, name: str, channel: ChannelActor) -> None:
        self.channel_actors[name] = channel

    def close_with(self, spec: ErrorSpec, message: str | None = None) -> None:
        """Close the connection for a closing row of the error table: its `pusher:error`
        (unless an RFC 6455 failure), then a close frame with its close code."""
        endpoint = self.endpoint
        if endpoint.closing:
            return
        close_code = spec.close_code
        assert close_code is not None, f"{spec.message!r} does not close"
        reason = message or spec.message
        if spec not in _DRAIN_ERRORS:  # a drain is no fault of the connection
            log.info(
                "closing connection %s (app %s): %d %s",
                self.socket_id,
                self.app_id or "-",
                close_code,
                untrusted(reason),  # may quote the client (its Origin header)
            )
        if spec.tells_client:
            endpoint.send(text_frame(error_frame(spec, message)))
        self.node.dashboard.feed.error(self.app_id, self.socket_id, spec, message)
        endpoint.start_close(close_code, reason)

    def fail(self, spec: ErrorSpec, message: str | None = None) -> None:
        """Answer an error as its row in the table says: a `pusher:error`, and a close when
        the row closes. Also for the app and channel actors (a client event on a channel
        this connection turned out not to be subscribed to)."""
        if spec.closes:
            self.close_with(spec, message)
            return
        self.endpoint.send(text_frame(error_frame(spec, message)))
        self.node.dashboard.feed.error(self.app_id, self.socket_id, spec, message)

    def refuse(
        self, channel: str, refusal: SubscriptionRefusal, message: str | None = None
    ) -> None:
        """Refuse a subscribe with `pusher:subscription_error` (the connection stays open),
        here or in the channel that decided it (a full presence channel)."""
        self.endpoint.send(text_frame(frames.subscription_refused(channel, refusal, message)))
        feed = self.node.dashboard.feed
        feed.subscription_refused(self.app_id, self.socket_id, channel, refusal, message)

    # -- what the handlers use --

    def send_text(self, payload: bytes) -> None:
        self.endpoint.send(text_frame(payload))

    # -- lifecycle, in the handler greenlet --

    def run(self, release: bool = False) -> bool:
        """Serve the connection until it ends and return False; the socket is left for its
        server to close. With `release`, an accepted connection is handed to the event loop
        instead and True returned at once: no greenlet is parked per idle connection
        (most of its memory), and the connection cleans up and closes the socket
        itself when its stream ends."""
        released = False
        try:
            leftover = self.endpoint.take_buffered()
            if self._accept():
                released = self.endpoint.read(leftover, release)
            else:  # refused: the close handshake completes, bounded by the hard-close timer
                self.endpoint.read(leftover, release=False)
        except Exception:  # a bug must cost this connection, never the process
            log.exception("connection %s failed", self.socket_id)
        finally:
            if not released:
                self._cleanup()
        return released

    def _accept(self) -> bool:
        """Validate app and protocol, take a connection slot, say hello; False when refused
        (then the refusal is on its way)."""
        try:
            app = self.node.app_by_key(self.handshake.app_key)
        except AppManagerError:  # logged by the app manager, once per outage
            metrics.CONNECTIONS_OPENED.labels("").inc()
            self.close_with(Err.APP_MANAGER_UNAVAILABLE)
            return False
        if app is not None:
            self.app_id = app.settings.id
            self.endpoint.counters = counters(self.app_id)
        opened, open_now = metrics.connection_tallies(self.app_id)
        opened.pending += 1
        refusal = self._refusal(app)
        if refusal is not None:
            self.close_with(*refusal)
            return False
        assert app is not None
        refusal = self._connect(app)
        if refusal is not None:
            self.close_with(refusal)
            return False
        self.app = app
        open_now.pending += 1
        settings = app.settings
        if settings.max_client_events_per_second:
            self.client_events = PerSecondLimiter(settings.max_client_events_per_second)
        self.send_text(frames.connection_established(self.socket_id, settings.activity_timeout))
        self._arm_activity_timer(settings.activity_timeout)
        self.node.dashboard.feed.connected(self.app_id, self.socket_id, self.handshake.origin)
        if settings.require_channel_authorization:
            self.signin_timer = Cancellable.after(
                settings.authorization_timeout_seconds, self._signin_deadline
            )
        return True

    def _connect(self, app: AppActor) -> ErrorSpec | None:
        """Join the app; the error to close with when it does not take the connection. The
        app actor may have stopped since the lookup (a crash loop stops it, and the node
        starts a new one for the next lookup): the client is told to reconnect."""
        try:
            if app.settings.max_connections:
                return cast(ErrorSpec | None, app.ask(Connect(self)))
            # No quota to check: nothing to wait for (an ask costs ~7 % of the connect rate).
            return None if app.tell_inline(Connect(self)) else Err.APP_RESTARTED
        except ActorDeadError:
            return Err.APP_RESTARTED

    def _refusal(self, app: AppActor | None) -> tuple[ErrorSpec, str | None] | None:
        """Why this handshake is refused (error and message), or None to accept it."""
        if not self.node.ready:  # draining, and the server could not refuse the upgrade
            return Err.SERVER_DRAINING, None
        if app is None:
            return Err.APP_NOT_FOUND, None
        if not app.settings.enabled:
            return Err.APP_DISABLED, None
        origin = self.handshake.origin
        if not origin_allowed(origin, app.settings.allowed_origins):
            return Err.UNAUTHORIZED_CONNECTION, f"Origin {origin[:200] or '(none)'} is not allowed"
        problem = protocol_refusal(self.handshake.query)
        return None if problem is None else (problem, None)

    def on_stream_end(self, error: BaseException | None) -> None:
        """A released connection's end (Peer), in a greenlet."""
        if error is not None:
            log.error("connection %s failed", self.socket_id, exc_info=error)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._activity_tick:
            ACTIVITY.cancel(self, self._activity_tick)
            self._activity_tick = 0
        if self.signin_timer is not None:
            self.signin_timer.cancel()
        if self.app is not None:
            disconnect = Disconnect(self, tuple(self.channels), self.user_id, self.watchlist)
            self.app.tell_inline(disconnect)
            metrics.connection_tallies(self.app_id)[1].pending -= 1
            feed = self.node.dashboard.feed
            feed.disconnected(self.app_id, self.socket_id, self.endpoint.close_code)
        label = close_code_label(self.endpoint.close_code)
        metrics.closed_tally(self.app_id, label).pending += 1
        self.endpoint.finish()

    # -- the endpoint's reports (Peer; in the event loop: non-blocking only) --

    def on_text(self, text: str) -> None:
        try:
            request = parse_client_message(text)
        except BadMessage as bad:
            self.fail(bad.spec, bad.detail)
            return
        if type(request) is ClientEvent:  # the hot path first
            relay(self, request)
            return
        _HANDLERS[type(request)](self, request)

    def on_binary(self) -> None:
        self.fail(Err.BINARY_NOT_SUPPORTED)

    def on_violation(self, violation: ProtocolViolation) -> None:
        self.close_with(violation.spec, violation.reason)

    def on_slow_consumer(self) -> None:
        """No close frame can get through a full backlog: the endpoint cut the connection,
        counted under the code a close frame would have carried."""
        log.info(
            "closing slow consumer %s (app %s): outbound backlog over %d KB",
            self.socket_id,
            self.app_id or "-",
            self.node.settings.socket_backlog_limit_kb,
        )
        metrics.SLOW_CONSUMERS.labels(self.app_id).inc()
        self.endpoint.close_code = Err.SLOW_CONSUMER.close_code

    def on_frame_timeout(self) -> None:
        metrics.FRAME_TIMEOUTS.labels(self.app_id).inc()
        self.close_with(
            Err.FRAME_TIMEOUT,
            f"Frame not completed within {self.node.settings.frame_timeout_ms} ms",
        )

    # -- timers (run in the event loop: non-blocking only) --

    def _arm_activity_timer(self, delay: float) -> None:
        if self._activity_tick:
            ACTIVITY.cancel(self, self._activity_tick)
        self._activity_tick = ACTIVITY.arm(self, delay)

    def activity_due(self) -> None:
        """Ping a client that has been silent for activity_timeout; close it if it stays so.
        Called by the process's activity wheel (see activity.py).

        Any bytes from the client count as activity, so busy or self-pinging clients
        (pusher-js pings on the same timeout) are never pinged by the server.
        """
        self._activity_tick = 0
        if self.endpoint.closing or self.app is None:
            return
        now = time.monotonic()
        last_seen = self.endpoint.last_seen
        if self._ping_sent_at is not None:
            if last_seen > self._ping_sent_at:
                self._ping_sent_at = None
            elif now - self._ping_sent_at >= self._pong_wait:
                self.close_with(Err.PONG_NOT_RECEIVED)
                return
            else:
                self._arm_activity_timer(self._ping_sent_at + self._pong_wait - now)
                return
        timeout = self.app.settings.activity_timeout
        idle = now - last_seen
        if idle >= timeout:
            self._ping_sent_at = now
            self._pong_wait = min(30.0, float(timeout))
            self.send_text(frames.ping())
            self._arm_activity_timer(self._pong_wait)
        else:
            self._arm_activity_timer(timeout - idle)

    def _signin_deadline(self) -> None:
        if self.user_id is None and not self.endpoint.closing:
            self.close_with(Err.UNAUTHORIZED_CONNECTION)


def _pong(conn: SocketActor, _request: Ping) -> None:
    conn.send_text(frames.pong())


def _ignore(_conn: SocketActor, _request: Pong) -> None:
    """A client's pong: its bytes already counted as activity."""


_HANDLERS: dict[type, Callable] = {
    Ping: _pong,
    Pong: _ignore,
    Subscribe: subscribe,
    Unsubscribe: unsubscribe,
    SignIn: sign_in,
}
