"""`socketrush.wsgi:app` for gunicorn with gevent-websocket workers:

    gunicorn -k geventwebsocket.gunicorn.workers.GeventWebSocketWorker -w 2 socketrush.wsgi:app

Settings come from the environment (and `.env`); `SOCKETRUSH_CONFIG_FILE` names a JSON
config file, since gunicorn owns the command line. Each worker process is one node.

With metrics enabled, one worker at a time serves the metrics port; with
`PROMETHEUS_MULTIPROC_DIR` set it reports every worker's counts (see docs/metrics.md).
"""

from __future__ import annotations

import logging
import os

from socketrush import metrics
from socketrush.config import load_settings
from socketrush.http.entry import create_wsgi_app
from socketrush.logging_setup import configure_logging
from socketrush.node import Node


def _settings_args() -> list[str]:
    config_file = os.environ.get("SOCKETRUSH_CONFIG_FILE")
    return ["--config-file", config_file] if config_file else []


settings = load_settings(_settings_args())
configure_logging(settings.log_level, settings.log_format)
node = Node(settings)
node.start()
app = create_wsgi_app(node)
if settings.metrics_enabled:
    if not os.environ.get(metrics.MULTIPROC_ENV):
        logging.getLogger(__name__).warning(
            "metrics_enabled without %s: the metrics port shows one worker's counts only",
            metrics.MULTIPROC_ENV,
        )
    metrics.serve_when_free(settings.bind_address, settings.metrics_port)
