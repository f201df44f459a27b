"""The request handler of Socket Rush's gunicorn worker class (socketrush/gunicorn_worker.py):
gevent-websocket's, leaving `/app/` upgrades to the application as plain requests while the
node drains (it answers them 503), and with serve's deadlines on each request head and
body and its wait between keep-alive requests."""

from __future__ import annotations

import gevent
from gevent.pywsgi import WSGIHandler
from geventwebsocket.handler import WebSocketHandler

from socketrush.http.deadline import HeadDeadline

APP_PATH = "/app/"


class DrainAwareHandler(HeadDeadline, WebSocketHandler):
    """Not on a TLS handshake: gunicorn's server makes that one before any handler runs."""

    def handle(self) -> None:
        node = getattr(self.server.application, "node", None)  # socketrush.http.entry.NodeApp
        if node is not None:
            self._deadline = gevent.Timeout.start_new(node.settings.handshake_timeout_ms / 1000)
            self._body_seconds = node.settings.request_body_timeout_ms / 1000
            self._idle_seconds = node.settings.keep_alive_timeout_ms / 1000
        super().handle()

    def run_application(self) -> None:
        node = getattr(self.application, "node", None)
        if (
            node is not None
            and not node.ready
            and self.environ.get("PATH_INFO", "").startswith(APP_PATH)
        ):
            return WSGIHandler.run_application(self)
        return super().run_application()
