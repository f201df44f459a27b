"""gunicorn with two gevent-websocket workers and the Redis adapter behaves as one server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.socketrush.adapters.test_redis_adapter import wait_ready
from tests.support.client import PusherClient, sdk
from tests.support.redis import RedisServer
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, REPO_ROOT, ServerProcess

CLIENTS = 16  # spread over both workers by the kernel; every one must get the event


def test_two_gunicorn_workers_deliver_to_every_client(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    server = ServerProcess()  # only for its port and URLs; gunicorn runs the node processes
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(
        APP_ID=APP_ID,
        APP_KEY=APP_KEY,
        APP_SECRET=APP_SECRET,
        ADAPTER_DRIVER="redis",
        REDIS_URL=redis_server.url,
        LOG_LEVEL="warn",
    )
    log = (tmp_path / "gunicorn.log").open("wb")
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-k",
            "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
            "-w",
            "2",
            "--graceful-timeout",
            "5",
            "-b",
            f"127.0.0.1:{server.port}",
            "socketrush.wsgi:app",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    clients: list[PusherClient] = []
    try:
        wait_ready(server, timeout=30)
        workers = Path(f"/proc/{gunicorn.pid}/task/{gunicorn.pid}/children").read_text().split()
        assert len(workers) == 2
        clients = [PusherClient.connect(server) for _ in range(CLIENTS)]
        for client in clients:
            client.subscribe("news")
            client.recv_event("pusher_internal:subscription_succeeded")
        for _ in range(4):  # both workers answer /ready before the event counts
            wait_ready(server)
        assert sdk(server).trigger("news", "headline", "to every worker") == {}
        for client in clients:
            assert client.recv() == {
                "event": "headline",
                "channel": "news",
                "data": "to every worker",
            }
    finally:
        for client in clients:
            client.close()
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(20)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
        log.close()
