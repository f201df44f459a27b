"""A gunicorn worker class for Socket Rush: gevent-websocket's, refusing upgrades while the
worker's node drains.

    gunicorn -k socketrush.gunicorn_worker.Worker -w 2 socketrush.wsgi:app

gevent-websocket's own worker (`geventwebsocket.gunicorn.workers.GeventWebSocketWorker`)
sends the 101 response before the application sees the request, so a draining worker can
only close a newcomer after upgrading it (with 4100: pusher-js retries after a second). This
worker's handler (http/gunicorn_handler.py) looks first: during a drain an upgrade on `/app/`
goes to the application as a plain request, which answers HTTP 503 with a JSON body
(pusher-js then waits for its connection timeout, 15 s, before it tries again). It also gives
each request head `handshake_timeout_ms` and each wait between keep-alive requests
`keep_alive_timeout_ms`, as `serve` does.

gunicorn's master imports this module too, so it imports nothing of the server: the master
must not build a node, nor create metrics (in multiprocess mode every process that creates
them leaves its own files in PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

from geventwebsocket.gunicorn.workers import GeventWebSocketWorker


class Worker(GeventWebSocketWorker):
    def run(self) -> None:
        """In the worker process, where the application (and so the server) is loaded."""
        from socketrush.http.gunicorn_handler import DrainAwareHandler  # see the module doc

        self.wsgi_handler = DrainAwareHandler
        super().run()
