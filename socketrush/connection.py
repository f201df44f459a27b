"""SocketActor: one per WebSocket connection.

The WSGI handler greenlet that accepted the connection checks the handshake and says hello.
Under `socketrush serve` it then hands the socket to the event loop and is free: the loop
feeds the client's bytes to the actor, which closes the socket itself when the stream ends,
so an idle connection parks no greenlet at all. Under gunicorn the greenlet stays and waits
for the end instead. Either way the actor reads frames, validates them and
tells the app actor what the client asked for. Everything other actors send to a connection
is already-framed bytes for its `Outbox`, or a request to close, so it needs no mailbox.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import orjson

from actors import Cancellable
from actors.runners import run_soon
from socketrush import metrics
from socketrush.app import (
    AppActor,
    Connect,
    Disconnect,
    Publish,
    SignIn,
    Subscribe,
    Unsubscribe,
    server_to_user_channel,
)
from socketrush.channels import Broadcast, ChannelActor, Member, not_subscribed_error
from socketrush.protocol import frames
from socketrush.protocol.channels import ChannelKind, classify, validate_channel_name
from socketrush.protocol.errors import Err, ErrorSpec, SubscriptionRefusal, error_frame
from socketrush.protocol.handshake import Handshake, protocol_refusal
from socketrush.protocol.ids import new_socket_id
from socketrush.protocol.origins import origin_allowed
from socketrush.protocol.signatures import channel_auth_valid, user_auth_valid
from socketrush.protocol.websocket import (
    FrameParser,
    ProtocolViolation,
    close_frame,
    pong_frame,
    text_frame,
)
from socketrush.ratelimit import PerSecondLimiter
from socketrush.tally import Tally, tally
from socketrush.transport.inbound import READ_CHUNK, read_until_done, watch_reads
from socketrush.transport.outbox import Outbox
from socketrush.transport.wire import Wire
from socketrush.webhooks import events

if TYPE_CHECKING:
    from socketrush.node import Node

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024  # larger client frames are refused before they are buffered
CLOSE_HANDSHAKE_SECONDS = 2.0  # how long a peer gets to answer our close frame
NO_CLOSE_FRAME = 1006  # RFC 6455: the connection ended without a close frame
NO_STATUS = 1005  # RFC 6455: the peer's close frame had no code


class _Counters(NamedTuple):
    """One app's per-connection counts: tallies, bound once per app rather than per count."""

    messages_in: Tally
    bytes_in: Tally
    messages_out: Tally
    bytes_out: Tally


@functools.cache
def _counters(app_id: str) -> _Counters:
    return _Counters(
        tally(metrics.MESSAGES_IN.labels(app_id)),
        tally(metrics.BYTES_IN.labels(app_id)),
        tally(metrics.MESSAGES_OUT.labels(app_id)),
        tally(metrics.BYTES_OUT.labels(app_id)),
    )


class SocketActor:
    """State: the app, the channels this socket asked for, its signed-in user, its timers."""

    def __init__(
        self, node: Node, handshake: Handshake, sock, rfile, response_head: bytes = b""
    ) -> None:
        """`sock` is the gevent socket, `rfile` the buffered reader the HTTP parser read the
        request from; `response_head` is the 101 response when it has not been sent yet (it
        then goes out with the first frame, in one send)."""
        self.node = node
        self.handshake = handshake
        self._wire = Wire(sock)
        self._rfile = rfile
        self._response_head = response_head
        self.socket_id = new_socket_id()
        self.app: AppActor | None = None
        self.outbox = Outbox(
            self._wire,
            node.settings.socket_backlog_limit_kb * 1024,
            on_overflow=self._slow_consumer,
        )
        # Other actors hand this connection frames with `send_frame`: the outbox's own method,
        # so a broadcast costs one Python call per recipient, not two.
        self.send_frame: Callable[[bytes], None] = self.outbox.offer
        self.channels: dict[str, str | None] = {}  # name -> presence user id (or None)
        self._channel_actors: dict[str, ChannelActor] = {}  # set by the app: see channel_ready
        self.user_id: str | None = None
        self.watchlist: tuple[str, ...] = ()
        self._parser = FrameParser(MAX_MESSAGE_BYTES)
        self._closing = False
        self._leftover = b""
        self._last_seen = time.monotonic()
        self._ping_sent_at: float | None = None
        self._pong_wait = 30.0
        self._activity_timer: Cancellable | None = None
        self._signin_timer: Cancellable | None = None
        self._hard_close_timer: Cancellable | None = None
        self._client_events: PerSecondLimiter | None = None
        self._app_id = ""  # metrics and log label; stays empty when the key matches no app
        self._counters = _counters("")
        self._close_code = NO_CLOSE_FRAME

    # -- what other actors may call (non-blocking) --

    def channel_ready(self, name: str, channel: ChannelActor) -> None:
        self._channel_actors[name] = channel

    def close_with(self, spec: ErrorSpec, message: str | None = None) -> None:
        """Send pusher:error and a close frame with the error's code, then close."""
        if self._closing:
            return
        code, reason = spec.code or 4000, message or spec.message
        if spec is not Err.SERVER_SHUTTING_DOWN:  # a drain is no fault of the connection
            log.info(
                "closing connection %s (app %s): %d %s",
                self.socket_id,
                self._app_id or "-",
                code,
                reason,
            )
        self._send(text_frame(error_frame(spec, message)))
        self.node.dashboard.feed.error(self._app_id, self.socket_id, spec, message)
        self._start_close(code, reason)

    # -- lifecycle, in the handler greenlet --

    def run(self, release: bool = False) -> bool:
        """Serve the connection until it ends and return False; the socket is left for its
        server to close. With `release`, an accepted connection is handed to the event loop
        instead and True returned at once: no greenlet is parked per idle connection
        (most of its memory), and the connection cleans up and closes the socket
        itself when its stream ends."""
        released = False
        try:
            self._leftover = self._buffered_after_handshake()
            if self._accept():
                released = self._read(release)
        except Exception:  # a bug must cost this connection, never the process
            log.exception("connection %s failed", self.socket_id)
        finally:
            if not released:
                self._cleanup()
        return released

    def _accept(self) -> bool:
        """Validate app and protocol, take a connection slot, say hello."""
        app = self.node.app_by_key(self.handshake.app_key)
        if app is not None:
            self._app_id = app.settings.id
            self._counters = _counters(self._app_id)
        metrics.CONNECTIONS_OPENED.labels(self._app_id).inc()
        refusal = self._refusal(app)
        if refusal is not None:
            self._refuse_connection(*refusal)
            return False
        assert app is not None
        if app.settings.max_connections:
            quota_error = app.ask(Connect(self))
            if quota_error is not None:
                self._refuse_connection(quota_error)
                return False
        else:  # no quota to check: nothing to wait for (an ask costs ~7 % of the connect rate)
            app.tell(Connect(self))
        self.app = app
        metrics.CONNECTIONS.labels(self._app_id).inc()
        settings = app.settings
        if settings.max_client_events_per_second:
            self._client_events = PerSecondLimiter(settings.max_client_events_per_second)
        self._send(
            text_frame(frames.connection_established(self.socket_id, settings.activity_timeout))
        )
        self._arm_activity_timer(settings.activity_timeout)
        self.node.dashboard.feed.connected(self._app_id, self.socket_id, self.handshake.origin)
        if settings.require_channel_authorization:
            self._signin_timer = Cancellable.after(
                settings.authorization_timeout_seconds, self._signin_deadline
            )
        return True

    def _refuse_connection(self, spec: ErrorSpec, message: str | None = None) -> None:
        """Complete the upgrade, then send the error and close (a WebSocket client only sees
        the reason once connected); the read loop completes the close handshake, bounded by
        the hard-close timer."""
        self.close_with(spec, message)
        self._read(release=False)

    def _refusal(self, app: AppActor | None) -> tuple[ErrorSpec, str | None] | None:
        """Why this handshake is refused (error and message), or None to accept it."""
        if not self.node.ready:  # draining (gunicorn keeps listening meanwhile): go elsewhere
            return Err.SERVER_SHUTTING_DOWN, None
        if app is None:
            return Err.APP_NOT_FOUND, None
        if not app.settings.enabled:
            return Err.APP_DISABLED, None
        origin = self.handshake.origin
        if not origin_allowed(origin, app.settings.allowed_origins):
            return Err.UNAUTHORIZED_CONNECTION, f"Origin {origin[:200] or '(none)'} is not allowed"
        problem = protocol_refusal(self.handshake.query)
        return None if problem is None else (problem, None)

    def _buffered_after_handshake(self) -> bytes:
        """Bytes the HTTP parser read past the upgrade request, taken without blocking."""
        return self._wire.take_buffered(self._rfile, READ_CHUNK)

    def _read(self, release: bool) -> bool:
        """Handle the client's frames until the connection ends, or, with `release`, from the
        event loop after this returns True (see transport/inbound.py: either way `_take` must never
        block)."""
        # Read the socket itself, not pywsgi's buffered rfile: `read1` allocates its whole
        # result buffer before it blocks, ~11 KB of RSS per parked connection (measured).
        leftover, self._leftover = self._leftover, b""
        if leftover and not self._take(leftover):
            return False
        if release:
            # The reader holds a reference on the socket: without it, `close` closes.
            self._rfile.close()
            watch_reads(self._wire, self._take, self._stream_ended)
            return True
        read_until_done(self._wire, self._take)
        return False

    def _stream_ended(self, error: BaseException | None) -> None:
        """A released connection's end, seen in the event loop: finish in a greenlet, since
        the cleanup waits for the last frames to go out."""
        run_soon(functools.partial(self._finish_released, error))

    def _finish_released(self, error: BaseException | None) -> None:
        if error is not None:
            log.error("connection %s failed", self.socket_id, exc_info=error)
        try:
            self._cleanup()
        finally:
            self._wire.close()

    def _take(self, data: bytes | memoryview) -> bool:
        """The next bytes from the client; False once the connection wants no more."""
        self._last_seen = time.monotonic()
        counters = self._counters
        counters.bytes_in.pending += len(data)
        try:
            messages = self._parser.feed(data)
        except ProtocolViolation as violation:
            log.info(
                "protocol violation on connection %s (app %s): %d %s",
                self.socket_id,
                self._app_id or "-",
                violation.close_code,
                violation.reason,
            )
            self._start_close(violation.close_code, violation.reason)
            return False
        if messages:
            counters.messages_in.pending += len(messages)
        for message in messages:
            if message.kind == "text":
                if not self._closing:
                    self._on_text(message.payload)
            elif message.kind == "close":
                if not self._closing:
                    # Echo the peer's close, as RFC 6455 asks, then we are done.
                    self._close_code = message.close_code or NO_STATUS
                    self._send(close_frame(message.close_code or 1000))
                return False
            elif message.kind == "ping":
                self._send(pong_frame(message.payload))
            elif message.kind == "binary" and not self._closing:
                self._error(Err.INVALID_FRAME, "Binary frames are not supported")
        return True

    def _cleanup(self) -> None:
        for timer in (self._activity_timer, self._signin_timer, self._hard_close_timer):
            if timer is not None:
                timer.cancel()
        if self.app is not None:
            self.app.tell(Disconnect(self, tuple(self.channels), self.user_id, self.watchlist))
            metrics.CONNECTIONS.labels(self._app_id).dec()
            self.node.dashboard.feed.disconnected(self._app_id, self.socket_id, self._close_code)
        metrics.CONNECTIONS_CLOSED.labels(self._app_id, str(self._close_code)).inc()
        self.outbox.flush(CLOSE_HANDSHAKE_SECONDS)
        self.outbox.close()

    def _start_close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._close_code = code
        self._send(close_frame(code, reason))
        self._hard_close_timer = Cancellable.after(CLOSE_HANDSHAKE_SECONDS, self._abort)

    def _abort(self) -> None:
        """Cut the TCP connection; the read loop then ends and cleans up."""
        self._wire.abort()

    def _slow_consumer(self) -> None:
        """The backlog is over the limit, so no close frame can get through: cut the TCP
        connection, and count it under the code a close frame would have carried."""
        log.info(
            "closing slow consumer %s (app %s): outbound backlog over %d KB",
            self.socket_id,
            self._app_id or "-",
            self.node.settings.socket_backlog_limit_kb,
        )
        metrics.SLOW_CONSUMERS.labels(self._app_id).inc()
        self._closing = True
        self._close_code = Err.SLOW_CONSUMER.code or 4100
        self._abort()

    def _send(self, frame: bytes) -> None:
        """A frame this connection sends of its own accord (hello, pong, errors, close),
        counted here; broadcasts arrive through `send_frame` and are counted per broadcast."""
        if self._response_head:  # the first frame completes the upgrade, in the same send
            self.outbox.offer(self._response_head + frame)
            self._response_head = b""
        else:
            self.outbox.offer(frame)
        counters = self._counters
        counters.messages_out.pending += 1
        counters.bytes_out.pending += len(frame)

    # -- timers (run in the event loop: non-blocking only) --

    def _arm_activity_timer(self, delay: float) -> None:
        if self._activity_timer is not None:
            self._activity_timer.cancel()
        self._activity_timer = Cancellable.after(delay, self._activity_check)

    def _activity_check(self) -> None:
        """Ping a client that has been silent for activity_timeout; close it if it stays so.

        Any bytes from the client count as activity, so busy or self-pinging clients
        (pusher-js pings on the same timeout) are never pinged by the server.
        """
        if self._closing or self.app is None:
            return
        now = time.monotonic()
        if self._ping_sent_at is not None:
            if self._last_seen > self._ping_sent_at:
                self._ping_sent_at = None
            elif now - self._ping_sent_at >= self._pong_wait:
                self.close_with(Err.PONG_NOT_RECEIVED)
                return
            else:
                self._arm_activity_timer(self._ping_sent_at + self._pong_wait - now)
                return
        timeout = self.app.settings.activity_timeout
        idle = now - self._last_seen
        if idle >= timeout:
            self._ping_sent_at = now
            self._pong_wait = min(30.0, float(timeout))
            self._send(text_frame(frames.ping()))
            self._arm_activity_timer(self._pong_wait)
        else:
            self._arm_activity_timer(timeout - idle)

    def _signin_deadline(self) -> None:
        if self.user_id is None and not self._closing:
            self.close_with(Err.UNAUTHORIZED_CONNECTION)

    # -- client messages --

    def _on_text(self, text: str) -> None:
        try:
            message = frames.parse_client_message(text)
        except frames.FrameError as error:
            self._error(error.spec, error.detail)
            return
        event = message.event
        if event.startswith("client-"):
            self._client_event(message)
            return
        handler = self._handlers.get(event)
        if handler is None:
            self._error(Err.UNKNOWN_EVENT, f"Unknown event: {event[:100]}")
            return
        handler(self, message.data)

    def _error(self, spec: ErrorSpec, message: str | None = None) -> None:
        self._send(text_frame(error_frame(spec, message)))
        self.node.dashboard.feed.error(self._app_id, self.socket_id, spec, message)

    def _on_ping(self, _data: object) -> None:
        self._send(text_frame(frames.pong()))

    def _on_pong(self, _data: object) -> None:
        """Already recorded by `_on_text`."""

    def _on_subscribe(self, data: object) -> None:
        data = _as_object(data)
        name = data.get("channel") if data is not None else None
        if not isinstance(name, str):
            self._error(Err.INVALID_FRAME, "pusher:subscribe needs data.channel")
            return
        assert self.app is not None
        if self.node.dashboard.feed.take_subscribe(self._app_id, self, name, data):
            return
        settings = self.app.settings
        problem = validate_channel_name(name, settings.max_channel_name_length)
        info = classify(name)
        if problem is None and info.kind is ChannelKind.SERVER_TO_USER:
            self._subscribe_own_user_channel(name)
            return
        if problem is not None:
            self._error(problem, f"{problem.message}: {name[:210]}")
            return
        member: Member | None = None
        if info.requires_auth:
            auth = data.get("auth")
            channel_data = data.get("channel_data") if info.is_presence else None
            if (
                not isinstance(auth, str)
                or (channel_data is not None and not isinstance(channel_data, str))
                or (info.is_presence and channel_data is None)
                or not channel_auth_valid(
                    settings.key, settings.secret, self.socket_id, name, auth, channel_data
                )
            ):
                self._refuse(name, Err.SUBSCRIPTION_BAD_AUTH)
                return
            if info.is_presence:
                member = self._presence_member(name, channel_data, settings)
                if member is None:
                    return
        self.channels[name] = member.user_id if member is not None else None
        self.app.tell(Subscribe(self, info, member))
        self.node.dashboard.feed.subscribed(self._app_id, self.socket_id, name, self.channels[name])

    def _subscribe_own_user_channel(self, name: str) -> None:
        """pusher-js subscribes to `#server-to-user-<id>` after sign-in. The socket already
        joined it when it signed in, so this only confirms; anyone else is refused."""
        if self.user_id is not None and name == server_to_user_channel(self.user_id):
            self._send(text_frame(frames.subscription_succeeded(name)))
            return
        self._refuse(name, Err.SUBSCRIPTION_NOT_OWN_USER_CHANNEL)

    def _presence_member(self, name: str, channel_data: str, settings) -> Member | None:
        limit = settings.max_presence_member_size_in_kb * 1024
        if len(channel_data.encode()) > limit:
            self._refuse(
                name,
                Err.SUBSCRIPTION_MEMBER_TOO_LARGE,
                f"Presence member data is larger than {settings.max_presence_member_size_in_kb} KB",
            )
            return None
        try:
            parsed = orjson.loads(channel_data)
        except orjson.JSONDecodeError:
            parsed = None
        user_id = parsed.get("user_id") if isinstance(parsed, dict) else None
        if isinstance(user_id, int | float) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not user_id:
            self._refuse(name, Err.SUBSCRIPTION_BAD_CHANNEL_DATA)
            return None
        return Member(user_id, parsed.get("user_info"))

    def _refuse(self, name: str, refusal: SubscriptionRefusal, message: str | None = None) -> None:
        self._send(text_frame(frames.subscription_refused(name, refusal, message)))
        feed = self.node.dashboard.feed
        feed.subscription_refused(self._app_id, self.socket_id, name, refusal, message)

    def _on_unsubscribe(self, data: object) -> None:
        data = _as_object(data)
        name = data.get("channel") if data is not None else None
        if not isinstance(name, str):
            self._error(Err.INVALID_FRAME, "pusher:unsubscribe needs data.channel")
            return
        self.node.dashboard.feed.unsubscribed(self._app_id, self.socket_id, name)
        if name in self.channels:
            del self.channels[name]
            self._channel_actors.pop(name, None)
            assert self.app is not None
            self.app.tell(Unsubscribe(self, name))

    def _on_signin(self, data: object) -> None:
        data = _as_object(data)
        assert self.app is not None
        settings = self.app.settings
        user_data = data.get("user_data") if data is not None else None
        auth = data.get("auth") if data is not None else None
        if self.user_id is not None:
            self._error(Err.INVALID_SIGNIN, "This connection is already signed in")
            return
        if (
            not isinstance(user_data, str)
            or not isinstance(auth, str)
            or not user_auth_valid(settings.key, settings.secret, self.socket_id, user_data, auth)
        ):
            self._error(Err.INVALID_SIGNIN, "Invalid signature for pusher:signin")
            return
        try:
            user = orjson.loads(user_data)
        except orjson.JSONDecodeError:
            user = None
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, str) or not user_id:
            self._error(Err.INVALID_SIGNIN, "user_data must be JSON with a string id")
            return
        watchlist = user.get("watchlist") or []
        if not isinstance(watchlist, list):
            watchlist = []
        self.user_id = user_id
        self.watchlist = tuple(str(uid) for uid in watchlist)
        if self._signin_timer is not None:
            self._signin_timer.cancel()
        self._send(text_frame(frames.signin_success(user_data)))
        self.app.tell(SignIn(self, user_id, self.watchlist))

    def _client_event(self, message: frames.ClientMessage) -> None:
        assert self.app is not None
        settings = self.app.settings
        name = message.channel
        if not settings.enable_client_messages:
            self._error(Err.CLIENT_EVENTS_DISABLED)
            return
        if not isinstance(name, str) or name not in self.channels:
            self._send(text_frame(not_subscribed_error(str(name))))
            feed = self.node.dashboard.feed
            feed.error(self._app_id, self.socket_id, Err.CLIENT_EVENT_NOT_SUBSCRIBED, None)
            return
        if not classify(name).allows_client_events:
            self._error(Err.CLIENT_EVENT_NOT_ALLOWED)
            return
        if len(message.event) > settings.max_event_name_length:
            self._error(Err.EVENT_NAME_TOO_LONG)
            return
        frame: dict[str, object] = {"event": message.event, "channel": name, "data": message.data}
        user_id = self.channels[name]
        if user_id is not None:
            frame["user_id"] = user_id
        payload = orjson.dumps(frame)
        limit = settings.max_event_payload_in_kb * 1024
        # `data` is part of the payload: only a payload over the limit needs its exact size.
        if len(payload) > limit and frames.encoded_size(message.data) > limit:
            self._error(Err.PAYLOAD_TOO_LARGE)
            return
        if self._client_events is not None and not self._client_events.take():
            metrics.RATE_LIMITED.labels(self._app_id, "client_events").inc()
            self._error(Err.CLIENT_EVENT_RATE_LIMIT)
            return
        notifier = self.app.notifier
        webhook = None
        if notifier is not None and notifier.wants(events.CLIENT_EVENT):
            webhook = events.client_event(
                name, message.event, message.data, self.socket_id, user_id
            )
        feed = self.node.dashboard.feed
        feed.client_event(self._app_id, self.socket_id, name, message.event, message.data, user_id)
        channel = self._channel_actors.get(name)
        if channel is not None and channel.tell_inline(
            Broadcast(text_frame(payload), self.socket_id, self, webhook)
        ):
            self.node.adapter.publish(self._app_id, name, payload, self.socket_id)
            return
        # Not known yet (the app has not handled the subscribe) or stopped: the app routes it.
        self.app.tell(
            Publish(name, payload, self.socket_id, cacheable=False, sender=self, webhook=webhook)
        )

    _handlers = {
        "pusher:ping": _on_ping,
        "pusher:pong": _on_pong,
        "pusher:subscribe": _on_subscribe,
        "pusher:unsubscribe": _on_unsubscribe,
        "pusher:signin": _on_signin,
    }


def _as_object(data: object) -> dict | None:
    """pusher-js sends `data` as an object; some clients send it JSON-encoded as a string."""
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
    return data if isinstance(data, dict) else None


def serve_upgraded(node: Node, handshake: Handshake, sock, rfile, response_head: bytes) -> bool:
    """Entry point from `socketrush serve`'s handler, which parsed the upgrade request itself
    and leaves the 101 response to the connection (see protocol/handshake.py). True: the connection
    took the socket over and closes it itself; the handler must forget it and return."""
    return SocketActor(node, handshake, sock, rfile, response_head).run(release=True)


def serve_websocket(node: Node, environ: dict) -> None:
    """Entry point from the WSGI callable for a `/app/{key}` request gevent-websocket upgraded
    (gunicorn workers); it already sent the 101 response."""
    websocket = environ["wsgi.websocket"]
    handler = websocket.handler
    try:
        SocketActor(node, Handshake.from_environ(environ), handler.socket, handler.rfile).run()
    finally:
        websocket.closed = True  # we did the close handshake; gevent-websocket must not
