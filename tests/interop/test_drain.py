"""A draining node and the official pusher-js client: each connected client is told 4200
once and reconnects, then backs off instead of reconnecting to the same draining node again
and again (it did 204 times in 0.7 s), while /ready answers 503 for load balancers. Under
`serve` and under gunicorn with Socket Rush's worker class."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path

import pytest

from tests.interop.node_driver import NodeDriver
from tests.support.gunicorn import gunicorn_workers
from tests.support.polling import wait_until
from tests.support.server import APP_KEY, ServerProcess
from tests.support.webhook_receiver import HANG, Receiver

pytestmark = pytest.mark.timeout(90)

CLIENTS = ("a", "b", "c")
DRAIN_SECONDS = 5  # the grace period; a webhook that never answers holds the drain that long
WATCH_SECONDS = 4  # how long the clients are watched while the node drains
MAX_ATTEMPTS_PER_CLIENT = 2  # the reconnect right after 4200, and at most one more


def drain_settings(receiver: Receiver) -> dict[str, str]:
    """Environment that makes a drain last DRAIN_SECONDS: vacated webhooks to a receiver that
    holds the first one."""
    return {
        "SHUTDOWN_GRACE_PERIOD": str(DRAIN_SECONDS),
        "APP_WEBHOOKS_ENABLED": "true",
        "APP_HAS_CHANNEL_VACATED_WEBHOOKS": "true",
        "APP_WEBHOOK_URL": receiver.url,
        "WEBHOOK_TIMEOUT_MS": "30000",
        "WEBHOOK_MAX_ATTEMPTS": "1",
        "LOG_LEVEL": "info",
    }


@contextmanager
def serve(receiver: Receiver, _tmp_path: Path) -> Iterator[tuple[ServerProcess, subprocess.Popen]]:
    with ServerProcess(env=drain_settings(receiver)) as server:
        assert server.process is not None
        yield server, server.process


@contextmanager
def gunicorn(
    receiver: Receiver, tmp_path: Path
) -> Iterator[tuple[ServerProcess, subprocess.Popen]]:
    server = ServerProcess()  # only for its port and URLs
    settings = drain_settings(receiver)
    log_path = tmp_path / "gunicorn.log"
    with gunicorn_workers(server.port, log_path, workers=1, **settings) as process:
        wait_until(lambda: "Socket Rush worker" in log_path.read_text(), 30, log_path.read_text)
        yield server, process


def status_of(server: ServerProcess, path: str, upgrade: bool = False) -> int:
    connection = HTTPConnection("127.0.0.1", server.port, timeout=5)
    headers = {}
    if upgrade:
        headers = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("run", [serve, gunicorn], ids=["serve", "gunicorn"])
def test_a_drain_tells_clients_4200_once_and_they_back_off(
    pusher_js: None, tmp_path: Path, run: Callable
) -> None:
    with Receiver([HANG]) as receiver, run(receiver, tmp_path) as (server, process):
        driver = NodeDriver(server.port, APP_KEY)
        try:
            for client in CLIENTS:
                driver.send("connect", client=client, channelAuth="", userAuth="", params={})
                driver.expect(client=client, source="connection", event="connected")
                driver.send("subscribe", client=client, channel=f"room-{client}")
                driver.expect(client=client, event="pusher:subscription_succeeded")
            before = len(driver.observed(event="websocket"))
            assert before == len(CLIENTS)

            process.send_signal(signal.SIGTERM)
            for client in CLIENTS:
                error = driver.expect(client=client, source="frame", event="pusher:error")
                assert error["data"] == {
                    "code": 4200,
                    "message": "Server is shutting down, reconnect",
                }
            receiver.wait_for(1)  # the drain is held open from here on
            assert status_of(server, "/ready") == 503
            driver.watch(WATCH_SECONDS)  # reconnects are counted over this window

            attempts = len(driver.observed(event="websocket")) - before
            assert attempts <= MAX_ATTEMPTS_PER_CLIENT * len(CLIENTS), driver.observed(
                source="frame", event="pusher:error"
            )
            shut_down = [o for o in driver.observed(event="pusher:error", source="frame")
                         if o["data"]["code"] == 4200]  # fmt: skip
            assert len(shut_down) == len(CLIENTS)  # 4200 once per client, never to a newcomer
            assert status_of(server, f"/app/{APP_KEY}?protocol=7", upgrade=True) == 503
            assert status_of(server, "/apps/424242/channels") == 503  # not 401: before auth
            assert status_of(server, "/ready") == 503  # still draining: still not ready
        finally:
            driver.close()
        receiver.stop()
        assert process.wait(DRAIN_SECONDS + 10) == 0
