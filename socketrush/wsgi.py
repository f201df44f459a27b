"""`socketrush.wsgi:app` for gunicorn with gevent-websocket workers:

    gunicorn -k geventwebsocket.gunicorn.workers.GeventWebSocketWorker -w 2 socketrush.wsgi:app

Settings come from the environment (and `.env`); `SOCKETRUSH_CONFIG_FILE` names a JSON
config file, since gunicorn owns the command line. Each worker process is one node.
"""

from __future__ import annotations

import os

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
