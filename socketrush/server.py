"""Run one node: gevent's WSGI server with gevent-websocket's upgrade handler, until a signal.

SIGTERM/SIGINT start a graceful stop (socketrush/shutdown.py, shared with gunicorn workers):
the node stops being ready, the listener closes, open connections are told to reconnect
elsewhere (4200), webhooks drain, and the process exits within the grace period.
"""

from __future__ import annotations

import logging
import signal
import ssl

import gevent
from gevent.event import Event
from gevent.pywsgi import WSGIHandler, WSGIServer
from geventwebsocket.handler import WebSocketHandler

from socketrush import metrics
from socketrush.config import ServerSettings
from socketrush.http.entry import create_wsgi_app
from socketrush.http.headers import RequestHeaders
from socketrush.limits import raise_file_limit
from socketrush.node import Node
from socketrush.shutdown import drain

log = logging.getLogger(__name__)

# Connection storms arrive faster than handshakes complete; a short accept queue makes the
# kernel drop SYNs and clients retry a second later.
LISTEN_BACKLOG = 2048


class _AccessLog:
    """gevent writes one access line per request to `log.write`; route it to logging."""

    def __init__(self) -> None:
        self._logger = logging.getLogger("socketrush.http.access")

    def write(self, line: str) -> None:
        self._logger.info(line.rstrip())


def build_ssl_context(settings: ServerSettings) -> ssl.SSLContext | None:
    """TLS for `wss://` and `https://` on the same port, when a certificate is configured."""
    if not settings.ssl_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(
        settings.ssl_cert, settings.ssl_key, password=settings.ssl_passphrase or None
    )
    return context


class _LeanHandler(WebSocketHandler):
    """gevent-websocket's handler with a 1 KB read buffer instead of 8 KB: the buffer lives as
    long as the connection, and after the upgrade we read the socket directly (measured:
    ~3.6 KB less RSS per idle connection). Large headers or bodies just take more reads.
    Headers are read by `RequestHeaders`, not the `email` package (see http/headers.py)."""

    def __init__(self, sock, address, server, rfile=None) -> None:
        super().__init__(sock, address, server, rfile or sock.makefile("rb", 1024))

    def MessageClass(self, rfile, *_args) -> RequestHeaders:  # noqa: N802 (gevent's name)
        return RequestHeaders.read(rfile)

    def log_request(self) -> None:
        """One access line per HTTP request through the server's access log (none when
        --ignore-logger-middleware); gevent-websocket would log every request itself."""
        if "101" not in str(self.status):
            WSGIHandler.log_request(self)


def build_server(settings: ServerSettings, node: Node) -> WSGIServer:
    access_log = None if settings.ignore_logger_middleware else _AccessLog()
    extra = {}
    context = build_ssl_context(settings)
    if context is not None:
        extra["ssl_context"] = context
    return WSGIServer(
        (settings.bind_address, settings.port),
        create_wsgi_app(node),
        handler_class=_LeanHandler,
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
            self._logger.error(line.rstrip())


def run(settings: ServerSettings) -> int:
    """Serve until SIGTERM/SIGINT; returns the process exit code."""
    raise_file_limit()
    node = Node(settings)
    try:
        server = build_server(settings, node)
    except (OSError, ssl.SSLError) as error:
        log.error(
            "cannot load the TLS certificate/key (ssl_cert %s, ssl_key %s): %s",
            settings.ssl_cert,
            settings.ssl_key,
            error,
        )
        return 2
    exporter = None
    if settings.metrics_enabled:
        exporter = metrics.build_exporter(settings.bind_address, settings.metrics_port)
        try:
            exporter.start()
        except OSError as error:
            log.error(
                "cannot serve metrics on %s:%d (metrics_port): %s",
                settings.bind_address,
                settings.metrics_port,
                error,
            )
            return 1
    node.start()
    try:
        server.start()
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", settings.bind_address, settings.port, error)
        return 1
    log.info(
        "Socket Rush listening on http://%s:%d (apps: %s)",
        settings.bind_address,
        settings.port,
        ", ".join(app.id for app in settings.apps),
    )
    stop = Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    stop.wait()
    drain(node, settings.shutdown_grace_period, stop_accepting=server.close)
    server.stop(timeout=1)  # the drain waited for connections to close; cut any left over
    if exporter is not None:  # last, so the drain itself can be watched
        exporter.stop(timeout=1)
    return 0
