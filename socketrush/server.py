"""`socketrush serve`: one node behind gevent's WSGI server (http/server.py), until a signal.

SIGTERM/SIGINT start a graceful stop (socketrush/shutdown.py, shared with gunicorn workers):
the node stops being ready (new upgrades get HTTP 503), open connections are told to reconnect
elsewhere (4200), webhooks drain, the listener closes and the process exits within the grace
period.
"""

from __future__ import annotations

import logging
import signal
import ssl

import gevent
from gevent.event import Event

from socketrush import census, metrics
from socketrush.gc_tuning import tune_garbage_collector
from socketrush.http.server import build_server
from socketrush.limits import raise_file_limit
from socketrush.node import Node
from socketrush.settings import ServerSettings
from socketrush.shutdown import drain

log = logging.getLogger(__name__)


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
        census.export(node, heap=settings.metrics_count_objects)
    node.start()
    tune_garbage_collector()
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
    drain(node, settings.shutdown_grace_period)  # still listening: upgrades get 503 meanwhile
    server.stop(timeout=1)  # the drain waited for connections to close; cut any left over
    if exporter is not None:  # last, so the drain itself can be watched
        exporter.stop(timeout=1)
    return 0
