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

A setting refused at start-up (by the loader, or while a driver is built: a queue_driver sqs
without queue_sqs_url, a bad database URL...) ends the worker with one `socketrush: ...` line
on stderr, as `socketrush serve` ends, and exit status 4, gunicorn's "App failed to load": the
arbiter then stops the other workers and exits with 4 itself ("Reason: App failed to load."),
rather than booting workers that would fail the same way again and again. With `--preload`
the master loads this module and exits with 4 before starting any worker. Without it, every
worker fails at about the same moment, and gunicorn 23's arbiter can trip over its own halt
(a second worker's exit handled while it stops): it then ends with status 1 and a traceback
of its own (HaltServer) after our lines. Either way gunicorn stops, non-zero.
"""

from __future__ import annotations

import logging
import os
import sys

from socketrush import census, metrics
from socketrush.config import ConfigError, load
from socketrush.gc_tuning import tune_garbage_collector
from socketrush.http.entry import create_wsgi_app
from socketrush.logging_setup import configure_logging
from socketrush.node import Node
from socketrush.shutdown import drain_before_worker_exit

log = logging.getLogger(__name__)

# The exit status that makes gunicorn's arbiter stop instead of starting the worker again
# (gunicorn.arbiter.Arbiter.APP_LOAD_ERROR; this module does not import gunicorn).
APP_LOAD_ERROR = 4


def _settings_args() -> list[str]:
    config_file = os.environ.get("SOCKETRUSH_CONFIG_FILE")
    return ["--config-file", config_file] if config_file else []


try:
    settings, notices = load(_settings_args())
    configure_logging(settings.log_level, settings.log_format)
    for notice in notices:
        log.warning("%s", notice)
    node = Node(settings)
except ConfigError as error:
    sys.stderr.write(f"socketrush: {error}\n")
    sys.stderr.flush()
    sys.exit(APP_LOAD_ERROR)
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
