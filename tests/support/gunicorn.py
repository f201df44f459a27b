"""Run Socket Rush under gunicorn with gevent-websocket workers, configured by environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import APP_ID, APP_KEY, APP_SECRET, REPO_ROOT

WORKER_CLASS = "socketrush.gunicorn_worker.Worker"  # the documented one
STOCK_WORKER_CLASS = "geventwebsocket.gunicorn.workers.GeventWebSocketWorker"  # works too


@contextmanager
def gunicorn_workers(
    port: int,
    log_path: Path,
    workers: int = 2,
    worker_class: str = WORKER_CLASS,
    **settings: str,
) -> Iterator[subprocess.Popen]:
    """`gunicorn -k <worker_class> -w N socketrush.wsgi:app` on 127.0.0.1:port with the test
    app plus `settings` (environment variables); stopped with SIGTERM (then SIGKILL) when the
    block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(APP_ID=APP_ID, APP_KEY=APP_KEY, APP_SECRET=APP_SECRET, LOG_LEVEL="warn")
    env.update(settings)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-k",
                worker_class,
                "-w",
                str(workers),
                "--graceful-timeout",
                "5",
                "-b",
                f"127.0.0.1:{port}",
                "socketrush.wsgi:app",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
