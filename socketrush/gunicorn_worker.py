"""A gunicorn worker class for Socket Rush: gevent-websocket's, refusing upgrades while the
worker's node drains.

    gunicorn -k socketrush.gunicorn_worker.Worker -w 2 socketrush.wsgi:app

gevent-websocket's own worker (`geventwebsocket.gunicorn.workers.GeventWebSocketWorker`)
sends the 101 response before the application sees the request, so a draining worker can
only close a newcomer after upgrading it (with 4100: pusher-js retries after a second). This
worker looks first: during a drain an upgrade on `/app/` goes to the application as a plain
request, which answers HTTP 503 with a JSON body (pusher-js then waits for its connection
timeout, 15 s, before it tries again). It also gives each request head
`handshake_timeout_ms`, as `serve` does. Everything else is gevent-websocket's.

Imported by gunicorn's master as well: this module must not build a node.
"""

from __future__ import annotations

import gevent
from gevent.pywsgi import WSGIHandler
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker
from geventwebsocket.handler import WebSocketHandler

from socketrush.http.deadline import HeadDeadline

APP_PATH = "/app/"


class DrainAwareHandler(HeadDeadline, WebSocketHandler):
    """gevent-websocket's handler, leaving `/app/` upgrades to the application as plain
    requests while its node is not ready, and with serve's deadline on each request head
    (not on a TLS handshake: gunicorn's server makes that one)."""

    def handle(self) -> None:
        node = getattr(self.server.application, "node", None)  # socketrush.http.entry.NodeApp
        if node is not None:
            self._deadline = gevent.Timeout.start_new(node.settings.handshake_timeout_ms / 1000)
        super().handle()

    def run_application(self) -> None:
        node = getattr(self.application, "node", None)  # socketrush.http.entry.NodeApp
        if (
            node is not None
            and not node.ready
            and self.environ.get("PATH_INFO", "").startswith(APP_PATH)
        ):
            return WSGIHandler.run_application(self)
        return super().run_application()


class Worker(GeventWebSocketWorker):
    wsgi_handler = DrainAwareHandler
