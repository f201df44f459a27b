"""gunicorn with two gevent-websocket workers: with the Redis or NATS adapter they behave as
one server, and stopping gunicorn drains every worker the way `socketrush serve` drains."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from http.client import HTTPConnection
from pathlib import Path

import pytest

from tests.support.bus import Bus
from tests.support.client import ConnectionClosed, PusherClient, assert_alive, expect_close, sdk
from tests.support.gunicorn import STOCK_WORKER_CLASS, WORKER_CLASS, gunicorn_workers
from tests.support.nodes import wait_ready
from tests.support.polling import wait_until
from tests.support.server import ServerProcess
from tests.support.webhook_receiver import HANG, Receiver

CLIENTS = 16  # spread over both workers by the kernel; every one must get the event


def test_two_gunicorn_workers_deliver_to_every_client(bus: Bus, tmp_path: Path) -> None:
    server = ServerProcess()  # only for its port and URLs; gunicorn runs the node processes
    clients: list[PusherClient] = []
    settings = bus.node_env(f"wsgi-{server.port}")
    log_path = tmp_path / "gunicorn.log"
    # gevent-websocket's own worker class: still works (the documented one is tested below).
    with gunicorn_workers(
        server.port, log_path, worker_class=STOCK_WORKER_CLASS, **settings
    ) as gunicorn:
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


def wait_for_workers(log_path: Path, count: int, timeout: float = 30.0) -> None:
    """Until `count` workers have built the app: a signal before that finds gunicorn's own
    handlers only. Another process's log: nothing to await, so it is polled."""
    wait_until(
        lambda: len(re.findall(r"Socket Rush worker \d+ ready", log_path.read_text())) >= count,
        timeout,
        log_path.read_text,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_gunicorn_drains_every_worker_like_serve(signum: int, tmp_path: Path) -> None:
    """SIGTERM (graceful) or SIGINT (quick) to the master: every client of both workers gets
    4200 then a 4200 close, and the webhooks those disconnects cause are sent before exit."""
    server = ServerProcess()  # only for its port and URLs; gunicorn runs the node processes
    rooms = [f"room-{n}" for n in range(CLIENTS)]
    settings = {
        "SHUTDOWN_GRACE_PERIOD": "3",  # under the helper's --graceful-timeout 5
        "LOG_LEVEL": "info",  # each worker logs how many clients it told
        "APP_WEBHOOKS_ENABLED": "true",
        "APP_HAS_CHANNEL_VACATED_WEBHOOKS": "true",
    }
    with Receiver() as receiver:
        settings["APP_WEBHOOK_URL"] = receiver.url
        with gunicorn_workers(server.port, tmp_path / "gunicorn.log", **settings) as gunicorn:
            wait_for_workers(tmp_path / "gunicorn.log", 2)
            clients = [PusherClient.connect(server) for _ in rooms]
            for client, room in zip(clients, rooms, strict=True):
                client.subscribe(room)
                client.recv_event("pusher_internal:subscription_succeeded")
            gunicorn.send_signal(signum)
            for client in clients:
                assert client.recv() == {
                    "event": "pusher:error",
                    "data": {"code": 4200, "message": "Server is shutting down, reconnect"},
                }
                with pytest.raises(ConnectionClosed) as closed:
                    client.recv()
                assert closed.value.code == 4200
            assert gunicorn.wait(20) == 0
        vacated = [
            event["channel"]
            for request in receiver.received  # no wait: sent before the workers exited
            for event in request.events
            if event["name"] == "channel_vacated"
        ]
    assert sorted(vacated) == sorted(rooms)
    log = (tmp_path / "gunicorn.log").read_text()
    told = re.findall(r"told (\d+) connections to reconnect elsewhere", log)
    assert len(told) == 2  # both workers drained, however the kernel spread the clients
    assert sum(map(int, told)) == CLIENTS
    assert "Traceback" not in log
    assert "Worker graceful timeout" not in log


def worker_count(gunicorn: subprocess.Popen) -> int:
    children = Path(f"/proc/{gunicorn.pid}/task/{gunicorn.pid}/children").read_text()
    return len(children.split())


@pytest.mark.parametrize(
    ("worker_class", "refusal"),
    [
        (WORKER_CLASS, None),  # HTTP 503 before any upgrade
        (STOCK_WORKER_CLASS, 4100),  # upgraded by gevent-websocket first: a backoff close
    ],
    ids=["socketrush-worker", "gevent-websocket-worker"],
)
def test_a_connection_that_reaches_a_draining_worker_is_refused_so_it_backs_off(
    tmp_path: Path, worker_class: str, refusal: int | None
) -> None:
    """gunicorn's master closes its copy of the listener on SIGTERM, but each worker keeps
    its own until it exits: new connections still reach a worker while it drains. One client
    and a webhook receiver that does not answer hold one worker's drain open; once the other
    worker (no clients, nothing to drain) is gone, a new connection can only reach the
    draining one, which must not answer 4200 (pusher-js would reconnect at once, again and
    again: 204 times in 0.7 s)."""
    server = ServerProcess()  # only for its port and URLs; gunicorn runs the node processes
    settings = {
        "SHUTDOWN_GRACE_PERIOD": "4",  # under the helper's --graceful-timeout 5
        "LOG_LEVEL": "info",
        "APP_WEBHOOKS_ENABLED": "true",
        "APP_HAS_CHANNEL_VACATED_WEBHOOKS": "true",
        "WEBHOOK_TIMEOUT_MS": "30000",  # the receiver, not the sender, ends the request
        "WEBHOOK_MAX_ATTEMPTS": "1",
    }
    log_path = tmp_path / "gunicorn.log"
    with Receiver([HANG]) as receiver:
        settings["APP_WEBHOOK_URL"] = receiver.url
        with gunicorn_workers(
            server.port, log_path, worker_class=worker_class, **settings
        ) as gunicorn:
            wait_for_workers(log_path, 2)
            holder = PusherClient.connect(server)
            holder.subscribe("room")
            holder.recv_event("pusher_internal:subscription_succeeded")
            gunicorn.send_signal(signal.SIGTERM)
            error, code = expect_close(holder)
            assert (error["data"]["code"], code) == (4200, 4200)  # once, to those connected
            holder.close()
            (vacated,) = receiver.wait_for(1)  # held: the worker's drain waits for it
            assert vacated.events == [{"name": "channel_vacated", "channel": "room"}]
            wait_until(lambda: worker_count(gunicorn) == 1, 4, log_path.read_text)

            if refusal is None:
                assert refused_upgrade(server) == (
                    503,
                    "5",
                    {"error": "Server is shutting down, try again later"},
                )
            else:
                newcomer = PusherClient(server.ws_url())
                try:
                    assert expect_close(newcomer) == (
                        {
                            "event": "pusher:error",
                            "data": {
                                "code": 4100,
                                "message": "Server is shutting down, try again later",
                            },
                        },
                        4100,
                    )
                finally:
                    newcomer.close()
            assert worker_count(gunicorn) == 1  # the held worker answered
            receiver.stop()  # ends the held request: the drain ends, then the worker
            assert gunicorn.wait(20) == 0
    log = log_path.read_text()
    assert sorted(re.findall(r"told (\d+) connections to reconnect elsewhere", log)) == ["0", "1"]
    assert "shutdown interrupted its delivery" not in log  # released, not cut by the grace period
    assert "Traceback" not in log
    assert "Worker graceful timeout" not in log


def refused_upgrade(server: ServerProcess) -> tuple[int, str | None, dict]:
    """A WebSocket upgrade on /app/: the status, Retry-After and JSON body of the refusal."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", server.ws_url().split(str(server.port), 1)[1], headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        })  # fmt: skip
        response = connection.getresponse()
        return response.status, response.getheader("Retry-After"), json.loads(response.read())
    finally:
        connection.close()


def test_the_worker_class_closes_connections_that_send_no_request_head_or_body(
    tmp_path: Path,
) -> None:
    """socketrush.gunicorn_worker.Worker gives each request head handshake_timeout_ms and
    each body request_body_timeout_ms, as serve does; a connection that completed its upgrade
    is not affected."""
    server = ServerProcess()  # only for its port and URLs; gunicorn runs the node processes
    log_path = tmp_path / "gunicorn.log"
    settings = {"HANDSHAKE_TIMEOUT_MS": "300", "REQUEST_BODY_TIMEOUT_MS": "300"}
    with gunicorn_workers(server.port, log_path, workers=1, LOG_LEVEL="info", **settings):
        wait_for_workers(log_path, 1)
        client = PusherClient.connect(server)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as silent:
            assert silent.recv(1) == b""  # closed by the worker, long before the 5 s timeout
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as stalled:
            stalled.sendall(
                b"POST /apps/424242/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )  # then the body stops
            answer = stalled.makefile("rb").read()  # up to the close, long before 5 s
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ") and b"\r\nConnection: close" in head
        assert json.loads(body) == {"error": "Request body not received in time"}
        assert_alive(client)  # idle past the deadlines since its upgrade: still served
        client.close()
    assert "Traceback" not in log_path.read_text()


@pytest.mark.parametrize(
    "settings,line",
    [
        (
            {"QUEUE_DRIVER": "sqs"},
            "socketrush: queue_driver sqs needs queue_sqs_url: give it with the flag "
            "--queue-sqs-url, the environment variable QUEUE_SQS_URL (or the .env file), or "
            "server.queue_sqs_url in a --config-file JSON",
        ),
        (
            {"HANDSHAKE_TIMEOUT_MS": "soon"},
            "socketrush: invalid value 'soon' for handshake_timeout_ms from env "
            "HANDSHAKE_TIMEOUT_MS: expected an integer >= 100",
        ),
    ],
    ids=["refused-while-a-driver-is-built", "refused-by-the-loader"],
)
def test_a_refused_setting_ends_the_worker_with_one_line_and_gunicorn_with_4(
    settings: dict[str, str], line: str, tmp_path: Path
) -> None:
    """As `socketrush serve` ends with one line (and status 2): the worker writes its line
    and exits with gunicorn's "App failed to load" status, on which the arbiter stops instead
    of booting workers that fail the same way, again and again. One worker: several failing
    at the same moment can trip gunicorn's arbiter over its own halt (see socketrush/wsgi.py)."""
    server = ServerProcess()  # only for its port; gunicorn runs the node processes
    log_path = tmp_path / "gunicorn.log"
    with gunicorn_workers(server.port, log_path, workers=1, **settings) as gunicorn:
        status = gunicorn.wait(60)
    log = log_path.read_text()
    assert status == 4, log
    assert [entry for entry in log.splitlines() if entry.startswith("socketrush: ")] == [line]
    assert log.count("Booting worker") == 1  # not booted again
    assert "Reason: App failed to load." in log and "Traceback" not in log
