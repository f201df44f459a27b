"""gevent's WSGI server for `socketrush serve`, answering WebSocket upgrades on `/app/` itself.

A valid upgrade goes straight to a connection, which is then released from its handler
greenlet (see `SocketActor.run`): on a plain socket the request head is looked at before any
HTTP parser runs (`NodeServer._serve_plain_upgrade`), so a plain upgrade skips gevent's WSGI handler
too; otherwise (TLS, a head in several pieces) the handler reads it and still skips the WSGI
environ and gevent-websocket (see protocol/handshake.py). Everything else is an ordinary WSGI
request for http/entry.py.

Every accepted connection has `handshake_timeout_ms` to complete its TLS handshake and send
its request head; a keep-alive connection waits up to `keep_alive_timeout_ms` for its next
request, whose head then has as long again, and each request `request_body_timeout_ms` for
its body (http/deadline.py).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from _socket import socket as OsSocket
from collections.abc import Callable
from functools import partial

import gevent
from gevent import ssl as gevent_ssl
from gevent.pywsgi import WSGIHandler, WSGIServer
from gevent.socket import socket as GeventSocket

from actors.runners import run_soon
from socketrush import metrics
from socketrush.connection import serve_upgraded
from socketrush.http.deadline import HeadDeadline
from socketrush.http.entry import create_wsgi_app
from socketrush.http.errors import raw_error_response
from socketrush.http.headers import RequestHeaders
from socketrush.logtext import untrusted
from socketrush.node import Node
from socketrush.protocol.errors import Err
from socketrush.protocol.handshake import (
    PLAIN_HEAD_LIMIT,
    Handshake,
    upgrade_from_head,
    websocket_upgrade,
)
from socketrush.settings import ServerSettings
from socketrush.transport.wire import peek_now

log = logging.getLogger(__name__)

_DISCARD_LIMIT = 256 * 1024  # of a refused request head, read before closing

# Connection storms arrive faster than handshakes complete; a short accept queue makes the
# kernel drop SYNs and clients retry a second later.
LISTEN_BACKLOG = 2048


class _AccessLog:
    """gevent writes one access line per request to `log.write`; route it to logging."""

    def __init__(self) -> None:
        self._logger = logging.getLogger("socketrush.http.access")

    def write(self, line: str) -> None:
        self._logger.info(untrusted(line.rstrip()))  # holds the client's request line


def build_ssl_context(settings: ServerSettings) -> ssl.SSLContext | None:
    """TLS for `wss://` and `https://` on the same port, when a certificate is configured.
    gevent's context, so its sockets cooperate whether or not the process is monkey-patched
    (`ssl.create_default_context` builds the standard library's when it is not)."""
    if not settings.ssl_cert:
        return None
    context = gevent_ssl.SSLContext(gevent_ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        settings.ssl_cert, settings.ssl_key, password=settings.ssl_passphrase or None
    )
    return context


class NodeServer(WSGIServer):
    """gevent's WSGI server, knowing the node its WebSocket upgrades are served by.

    A served WebSocket connection is released from its handler greenlet and closes its
    socket itself (see `SocketActor.run`): the server must not close that socket when the
    handler returns."""

    def __init__(
        self,
        *args,
        node: Node,
        handshake_timeout: float,
        keep_alive_timeout: float,
        body_timeout: float,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.node = node
        self.handshake_timeout = handshake_timeout
        self.body_timeout = body_timeout
        self.keep_alive_timeout = keep_alive_timeout
        self._taken_over: set[int] = set()  # ids of sockets whose connection closes them
        self._accepted_kind: tuple[int, int, int] | None = None  # family, type, proto

    def do_read(self) -> tuple[OsSocket, object] | None:
        """Accept a plain connection as the OS socket alone, without gevent's socket object:
        a plain upgrade is served on it (see `RawWire`); anything else gets gevent's socket
        in `handle`. TLS connections are gevent's from the start."""
        if self.ssl_args:
            return super().do_read()
        listener = self.socket
        try:
            fd, address = listener._accept()
        except BlockingIOError:
            if not listener.timeout:
                return None
            raise
        if self._accepted_kind is None:
            self._accepted_kind = (listener.family, socket.SOCK_STREAM, listener.proto)
        sock = OsSocket(*self._accepted_kind, fd)
        sock.setblocking(False)
        return sock, address

    def handle(self, sock, address, deadline: gevent.Timeout | None = None) -> None:
        """gevent's, with the handshake deadline (http/deadline.py): started here for a plain
        connection, or before the TLS handshake (`wrap_socket_and_handle`). A plain one
        comes as the OS socket (`do_read`): served as it is when its request head is here
        and a plain upgrade, else as gevent's socket by gevent's handler."""
        if deadline is not None:
            self.handler_class(sock, address, self, deadline=deadline).handle()
            return
        try:
            head = peek_now(sock, PLAIN_HEAD_LIMIT)
        except OSError:  # reset before a request: nothing to answer
            return
        if head == b"":  # ended before a request (a load balancer's TCP probe): the same
            return
        upgrade = None if head is None else self._plain_upgrade(head)
        if upgrade is not None:
            self._serve_upgrade(sock, *upgrade)
            return
        # gevent's socket takes the descriptor over; the server's close of `sock` is a no-op.
        plain = GeventSocket(sock.family, sock.type, sock.proto, sock.detach())
        try:
            if head is None:  # not here yet: wait for it, within the deadline
                deadline = self._wait_for_head(plain)
            else:
                deadline = gevent.Timeout.start_new(self.handshake_timeout)
            if deadline is not None:
                self.handler_class(plain, address, self, deadline=deadline).handle()
        finally:
            if not self._given_away(plain):
                plain.close()

    def _wait_for_head(self, sock) -> gevent.Timeout | None:
        """Wait for a request head to arrive; serve it if it is a plain upgrade and return
        None, as also when it timed out or ended before sending anything. Otherwise nothing
        is consumed (the head is peeked at) and the started handshake deadline is returned,
        for gevent's handler to read the head."""
        deadline = gevent.Timeout.start_new(self.handshake_timeout)
        try:
            head = sock.recv(PLAIN_HEAD_LIMIT, socket.MSG_PEEK)
        except gevent.Timeout as expired:
            if expired is not deadline:
                raise
            metrics.HANDSHAKE_TIMEOUTS.inc()
            return None  # closed by our caller
        except OSError:  # reset before a request: nothing to answer
            deadline.cancel()
            return None
        if not head:  # ended before sending anything
            deadline.cancel()
            return None
        upgrade = self._plain_upgrade(head)
        if upgrade is None:
            return deadline  # still running: the handler has what is left of it
        # The head is here: the deadline ends before the app lookup, which has its own
        # bounds (a slow app manager answers 4100, not a cut connection).
        deadline.cancel()
        self._serve_upgrade(sock, *upgrade)
        return None

    def _plain_upgrade(self, head: bytes) -> tuple[int, Handshake, bytes] | None:
        """The length of `head`'s request head, its handshake and response head if `head`,
        peeked at, is a plain upgrade (see `upgrade_from_head`) and the node takes
        connections; None, with nothing consumed, to leave it to gevent's handler.

        Measured (loadtests/instructions.py): gevent's handler, its buffered reader and its
        request parsing were about a fifth of the server's instructions per connect."""
        end = head.find(b"\r\n\r\n") + 4
        upgrade = upgrade_from_head(head[:end]) if end > 3 else None
        if upgrade is None or not self.node.ready:  # draining: the WSGI path answers 503
            return None
        return end, *upgrade

    def _serve_upgrade(self, sock, head_length: int, handshake: Handshake, response: bytes) -> None:
        """Serve a plain upgrade whose head (`head_length` bytes) is here, unread."""
        sock.recv(head_length)  # what follows the head belongs to the WebSocket
        if serve_upgraded(self.node, handshake, sock, None, response):
            self.take_over(sock)

    def take_over(self, sock) -> None:
        self._taken_over.add(id(sock))

    def _given_away(self, sock) -> bool:
        """Whether a connection took `sock` over; asked once, as its handler returns, while
        `sock` is still referenced (so its id is still its own)."""
        if id(sock) in self._taken_over:
            self._taken_over.discard(id(sock))
            return True
        return False

    def do_close(self, sock, *args) -> None:
        if not self._given_away(sock):
            super().do_close(sock, *args)

    def wrap_socket_and_handle(self, client_socket, address):
        """gevent's, with the handshake deadline running from before the TLS handshake, and
        leaving a TLS socket a connection took over open. (The plain socket under it is
        detached by the wrap, so `do_close` of it closes nothing.)"""
        # The TLS socket takes the descriptor over at once; its handshake is made here, under
        # the deadline, so that an expired one leaves a socket to close.
        tls_socket = self.wrap_socket(client_socket, **self.ssl_args, do_handshake_on_connect=False)
        deadline = gevent.Timeout.start_new(self.handshake_timeout)
        try:
            tls_socket.do_handshake()
        except gevent.Timeout as expired:
            deadline.cancel()
            tls_socket.close()
            if expired is not deadline:
                raise
            metrics.HANDSHAKE_TIMEOUTS.inc()
            return None
        except BaseException:
            deadline.cancel()
            tls_socket.close()
            raise
        try:
            return self.handle(tls_socket, address, deadline)
        finally:
            if not self._given_away(tls_socket):
                tls_socket.close()


class LeanHandler(HeadDeadline, WSGIHandler):
    """gevent's WSGI handler, with WebSocket upgrades on `/app/` taken over after the headers
    are read (see protocol/handshake.py), and a 1 KB read buffer instead of 8 KB: the buffer lives as
    long as the connection, and after the upgrade we read the socket directly (measured:
    ~3.6 KB less RSS per idle connection). Large headers or bodies just take more reads.
    Headers are read by `RequestHeaders`, not the `email` package (see http/headers.py)."""

    server: NodeServer

    def __init__(
        self, sock, address, server, rfile=None, deadline: gevent.Timeout | None = None
    ) -> None:
        """`deadline` (started) bounds the wait for the first request head; it is started
        again for each further one."""
        super().__init__(sock, address, server, rfile or sock.makefile("rb", 1024))
        _send_at_once(sock)
        self._upgrade: tuple[Handshake, bytes] | None = None
        self._deadline = deadline
        self._body_seconds = server.body_timeout
        self._idle_seconds = server.keep_alive_timeout
        self._head_too_large = False

    def MessageClass(self, rfile, *_args) -> RequestHeaders:  # noqa: N802 (gevent's name)
        headers = RequestHeaders.read(rfile)
        # A refused head ends the connection, so this never outlives its request.
        self._head_too_large = headers.too_large
        return headers

    def handle_one_request(self):  # noqa: ANN201 (gevent's: None, True or a status and body)
        """gevent's, with the error table's JSON for a request line over its limit (gevent
        answers that one itself, with an empty 414, before any hook)."""
        result = super().handle_one_request()
        if type(result) is tuple and result[0] == "414":
            self._discard_head()
            log.info("refused a request from %s: request line too long", self.client_address)
            return "414", raw_error_response(Err.API_REQUEST_LINE_TOO_LONG)
        return result

    def _discard_head(self) -> None:
        """Read the rest of a refused head (within the handshake deadline, at most
        `_DISCARD_LIMIT` bytes): bytes left unread would make the close a reset, which can
        destroy the answer before the client reads it."""
        left = _DISCARD_LIMIT
        while left > 0:
            line = self.rfile.readline(min(left, 65536))
            if line in (b"", b"\r\n", b"\n"):
                return
            left -= len(line)

    def _handle_client_error(self, ex: BaseException) -> tuple[str, bytes]:
        """gevent's hook for a request head it cannot read (bad grammar, headers over the
        limits): the error table's JSON 400 instead of an empty one, and an info line instead
        of gevent's error-level one, since anyone on the network can send these. An
        exception that is not about the client's input stays gevent's (a traceback: a bug)."""
        if not isinstance(ex, ValueError | OSError):
            return super()._handle_client_error(ex)
        spec = Err.API_HEADERS_TOO_LARGE if self._head_too_large else Err.API_BAD_REQUEST
        log.info("refused a request from %s: %s", self.client_address, untrusted(str(ex)))
        return str(spec.http_status), raw_error_response(spec)

    def get_environ(self) -> dict:
        """A valid upgrade on `/app/` needs no WSGI environ; anything else gets the full one.
        Called once the request head is read: the handshake deadline is met."""
        if self._deadline is not None:
            self._deadline.cancel()  # also done by HeadDeadline, which an upgrade skips
        self._upgrade = websocket_upgrade(
            self.command, self.request_version, self.path, self.headers
        )
        if self._upgrade is not None and not self.server.node.ready:
            self._upgrade = None  # draining: the WSGI path answers 503, so clients back off
        return {} if self._upgrade is not None else super().get_environ()

    def handle_one_response(self) -> None:
        if self._upgrade is None:
            return super().handle_one_response()
        handshake, response_head = self._upgrade
        self._upgrade = None
        self.close_connection = True  # a WebSocket from here on: no further HTTP requests
        sock = self.socket
        if serve_upgraded(self.server.node, handshake, sock, self.rfile, response_head):
            self.server.take_over(sock)
            self.socket = None  # pywsgi would drain and close it as the handler returns


def _send_at_once(sock) -> None:
    """TCP_NODELAY on an HTTP connection: an answer may leave in more than one send, and
    without it Nagle's algorithm holds the last part until the client ACKs the first, which a
    client delaying its ACKs does up to 40 ms later. Measured with keep-alive publishes
    following each other (loadtests/two_nodes.py): 41-51 ms per publish instead of 1-7 ms,
    which capped two nodes at ~8 connections / 45 ms = 180 publishes/s with the core a third
    idle. Not a TCP socket (a UNIX one): nothing to do."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _spawn_connection(handle: Callable[..., None], *args: object) -> None:
    """Each accepted connection runs on a parked runner greenlet (actors/runners.py) rather
    than a new gevent Greenlet: no Greenlet bookkeeping per connection, and a runner freed
    by a closed connection is reused with its stack by the next one (connection churn)."""
    run_soon(partial(handle, *args))


def build_server(settings: ServerSettings, node: Node) -> WSGIServer:
    access_log = None if settings.ignore_logger_middleware else _AccessLog()
    extra = {}
    context = build_ssl_context(settings)
    if context is not None:
        extra["ssl_context"] = context
    return NodeServer(
        (settings.bind_address, settings.port),
        create_wsgi_app(node),
        node=node,
        handshake_timeout=settings.handshake_timeout_ms / 1000,
        body_timeout=settings.request_body_timeout_ms / 1000,
        keep_alive_timeout=settings.keep_alive_timeout_ms / 1000,
        handler_class=LeanHandler,
        spawn=_spawn_connection,
        backlog=LISTEN_BACKLOG,
        log=access_log,
        error_log=_ErrorLog(),
        **extra,
    )


class _ErrorLog:
    def __init__(self) -> None:
        self._logger = logging.getLogger("socketrush.http.error")

    def write(self, line: str) -> None:
        if line.strip():
            self._logger.error(untrusted(line.rstrip()))
