"""`socketrush.wsgi:app` for gunicorn:

    gunicorn -k socketrush.gunicorn_worker.Worker -w 2 socketrush.wsgi:app

Settings come from the environment (and `.env`); `SOCKETRUSH_CONFIG_FILE` names a JSON
config file, since gunicorn owns the command line. Each worker process is one node.

SIGTERM, SIGINT and SIGQUIT drain the worker's node like `socketrush serve` does (/ready 503,
4200 to every client, webhooks drained) before gunicorn's own handling ends the worker; give
gunicorn a `--graceful-timeout` above `shutdown_grace_period`, or it kills workers mid-drain.
The worker keeps listening until then (gunicorn closes its listener after our drain): with
`socketrush.gunicorn_worker.Worker` a client that connects meanwhile gets HTTP 503 and backs
off; gevent-websocket's own worker (`geventwebsocket.gunicorn.workers.GeventWebSocketWorker`,
which also works) upgrades it first, so it is closed with 4100 instead (connection/actor.py).

With metrics enabled, one worker at a time serves the metrics port; with
`PROMETHEUS_MULTIPROC_DIR` set it reports every worker's counts (see docs/metrics.md).
"""

from __future__ import annotations

import logging
import os

from socketrush import census, metrics
from socketrush.config import load
from socketrush.gc_tuning import tune_garbage_collector
from socketrush.http.entry import create_wsgi_app
from socketrush.logging_setup import configure_logging
from socketrush.node import Node
from socketrush.shutdown import drain_before_worker_exit

log = logging.getLogger(__name__)


def _settings_args() -> list[str]:
    config_file = os.environ.get("SOCKETRUSH_CONFIG_FILE")
    return ["--config-file", config_file] if config_file else []


settings, notices = load(_settings_args())
configure_logging(settings.log_level, settings.log_format)
for notice in notices:
    log.warning("%s", notice)
node = Node(settings)
node.start()
app = create_wsgi_app(node)
tune_garbage_collector()
drain_before_worker_exit(node, settings.shutdown_grace_period)  # gunicorn set its handlers
log.info("Socket Rush worker %d ready", os.getpid())
if settings.metrics_enabled:
    if not os.environ.get(metrics.MULTIPROC_ENV):
        log.warning(
            "metrics_enabled without %s: the metrics port shows one worker's counts only",
            metrics.MULTIPROC_ENV,
        )
    census.export(node, heap=settings.metrics_count_objects)  # not served in multiprocess mode
    metrics.serve_when_free(settings.bind_address, settings.metrics_port)
