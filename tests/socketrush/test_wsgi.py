"""gunicorn with two gevent-websocket workers and the Redis adapter behaves as one server."""

from __future__ import annotations

from pathlib import Path

from tests.socketrush.adapters.test_redis_adapter import wait_ready
from tests.support.client import PusherClient, sdk
from tests.support.gunicorn import gunicorn_workers
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess

CLIENTS = 16  # spread over both workers by the kernel; every one must get the event


def test_two_gunicorn_workers_deliver_to_every_client(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    server = ServerProcess()  # only for its port and URLs; gunicorn runs the node processes
    clients: list[PusherClient] = []
    settings = {"ADAPTER_DRIVER": "redis", "REDIS_URL": redis_server.url}
    with gunicorn_workers(server.port, tmp_path / "gunicorn.log", **settings) as gunicorn:
        try:
            wait_ready(server, timeout=30)
            children = Path(f"/proc/{gunicorn.pid}/task/{gunicorn.pid}/children").read_text()
            assert len(children.split()) == 2
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
