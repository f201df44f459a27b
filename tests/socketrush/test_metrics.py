"""Prometheus metrics of real server processes, scraped from their metrics port after real
traffic: exact counter values, off by default, and one view over several gunicorn workers."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pusher
import pytest
import websocket
from prometheus_client import Counter, Gauge

from actors import Actor, Supervisor
from socketrush import census, metrics
from tests.support.blocking import off_the_loop
from tests.support.client import PusherClient, expect_close, sdk
from tests.support.gunicorn import gunicorn_workers
from tests.support.metrics import other_free_port, scrape, scrape_until, value
from tests.support.polling import wait_until
from tests.support.server import APP_ID, REPO_ROOT, ServerProcess

pytestmark = pytest.mark.timeout(60)


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_metrics_are_off_by_default(metrics_server: Callable) -> None:
    server, port = metrics_server(enabled=False)
    PusherClient.connect(server).close()
    assert port_is_closed(port)


def test_counts_connections_messages_and_api_calls(metrics_server: Callable) -> None:
    server, port = metrics_server("--app-max-backend-events-per-second", "2")
    first, second = PusherClient.connect(server), PusherClient.connect(server)
    error, code = expect_close(PusherClient(server.ws_url("no-such-key")))
    assert (error["data"]["code"], code) == (4001, 4001)

    first.send("pusher:ping")
    assert first.recv() == {"event": "pusher:pong", "data": {}}
    client = sdk(server)
    assert client.trigger("nobody-listens", "one", {}) == {}
    assert client.trigger("nobody-listens", "two", {}) == {}
    over_limit = [{"channel": "nobody-listens", "name": "many", "data": "{}"}] * 3
    with pytest.raises(pusher.errors.PusherError):
        client.trigger_batch(over_limit)  # 3 events at once, over 2 per second: 429
    first.close()  # close code 1000, echoed by the server

    samples = scrape_until(
        port, "socketrush_connections_closed_total", 1, app_id=APP_ID, code="1000"
    )
    second.close()
    ping_frame = 6 + len(json.dumps({"event": "pusher:ping", "data": {}}))  # masked, short
    close_frame = 6 + 2  # masked, code only
    assert value(samples, "socketrush_connections_opened_total", app_id=APP_ID) == 2
    assert value(samples, "socketrush_connections_opened_total", app_id="") == 1
    assert value(samples, "socketrush_connections_closed_total", app_id="", code="4001") == 1
    assert value(samples, "socketrush_connections_closed_total", app_id=APP_ID, code="1000") == 1
    assert value(samples, "socketrush_connections", app_id=APP_ID) == 1
    assert value(samples, "socketrush_ws_messages_received_total", app_id=APP_ID) == 2
    assert value(samples, "socketrush_ws_bytes_received_total", app_id=APP_ID) == (
        ping_frame + close_frame
    )
    # two hellos, one pong, one close echo
    assert value(samples, "socketrush_ws_messages_sent_total", app_id=APP_ID) == 4
    trigger = {"app_id": APP_ID, "endpoint": "trigger"}
    assert value(samples, "socketrush_http_requests_total", **trigger, status="200") == 2
    assert value(samples, "socketrush_http_requests_total", **trigger, status="429") is None
    batch = {"app_id": APP_ID, "endpoint": "trigger_batch"}
    assert value(samples, "socketrush_http_requests_total", **batch, status="429") == 1
    assert (
        value(
            samples, "socketrush_rate_limit_rejections_total", app_id=APP_ID, kind="backend_events"
        )
        == 1
    )


def test_a_client_close_code_of_no_known_meaning_is_counted_as_other(
    metrics_server: Callable,
) -> None:
    """Clients choose among 2,000 application codes; each would otherwise be a series."""
    server, port = metrics_server()
    for code in (3456, 4999, 1000):
        PusherClient.connect(server).ws.close(status=code)
    closed = "socketrush_connections_closed_total"
    scrape_until(port, closed, 2, app_id=APP_ID, code="other")
    samples = scrape_until(port, closed, 1, app_id=APP_ID, code="1000")
    codes = {dict(labels)["code"] for (name, labels) in samples if name == closed}
    assert codes == {"other", "1000"}
    assert value(samples, closed, app_id=APP_ID, code="other") == 2


def test_slow_consumer_is_counted(metrics_server: Callable) -> None:
    server, port = metrics_server("--socket-backlog-limit-kb", "1")
    slow = websocket.create_connection(
        server.ws_url(), timeout=5, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),)
    )
    slow.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "firehose"}}))
    slow.recv()  # connection_established
    slow.recv()  # subscription_succeeded: subscribed, and from now on never reading
    client = sdk(server)
    batch = [{"channel": "firehose", "name": "tick", "data": "x" * 9000}] * 10
    name = "socketrush_slow_consumer_disconnects_total"
    for _ in range(200):  # ~18 MB at most; the kernel buffers fill long before
        client.trigger_batch(batch)
        if value(scrape(port), name, app_id=APP_ID) == 1:
            break
    samples = scrape(port)
    slow.close()
    assert value(samples, name, app_id=APP_ID) == 1
    assert value(samples, "socketrush_connections_closed_total", app_id=APP_ID, code="4100") == 1
    closing = [line for line in server.log().splitlines() if "closing slow consumer" in line]
    assert len(closing) == 1
    assert f"(app {APP_ID}): outbound backlog over 1 KB" in closing[0]


def test_metrics_port_in_use_stops_start_up(start_server: Callable) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            RuntimeError, match="cannot serve metrics on 127.0.0.1:\\d+ \\(metrics_port\\)"
        ):
            start_server("--metrics-enabled", "true", "--metrics-port", str(port))


def test_gunicorn_workers_report_together(tmp_path: Path) -> None:
    """Two workers, one metrics port: every worker's connections are in one scrape."""
    server = ServerProcess()  # only for its port and URLs; gunicorn runs the node processes
    metrics_port = other_free_port(server.port)
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    clients: list[PusherClient] = []
    settings = {
        "METRICS_ENABLED": "true",
        "METRICS_PORT": str(metrics_port),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
    }
    with gunicorn_workers(server.port, tmp_path / "gunicorn.log", **settings):
        try:
            wait_until(
                lambda: not port_is_closed(metrics_port) and not port_is_closed(server.port),
                30,
                lambda: (tmp_path / "gunicorn.log").read_text(),
            )
            clients = [PusherClient.connect(server) for _ in range(16)]
            pids = {
                int(path.name.rsplit("_", 1)[1].removesuffix(".db"))
                for path in multiproc_dir.glob("counter_*.db")
            }
            # The other worker's tallies reach the shared files within a second (tally.py).
            samples = scrape_until(
                metrics_port, "socketrush_connections_opened_total", 16, app_id=APP_ID
            )
        finally:
            for client in clients:
                client.close()
    assert len(pids) == 2  # both workers count into the shared directory
    assert value(samples, "socketrush_connections_opened_total", app_id=APP_ID) == 16
    assert value(samples, "socketrush_connections", app_id=APP_ID) == 16


def test_actor_restarts_are_counted_by_app_and_actor_class() -> None:
    """No server actor crashes on purpose, so a test actor is supervised the way the node's
    actors are (Supervisor(on_restart=metrics.restart_counter(app_id))), and this process's
    own exporter is scraped."""

    class Fragile(Actor):
        def receive(self, message: object) -> None:
            raise ValueError(message)

    app_id = f"restarts-{uuid.uuid4().hex[:8]}"  # this process's registry outlives the test
    supervisor = Supervisor(on_restart=metrics.restart_counter(app_id))
    fragile = Fragile(supervisor=supervisor).start()
    exporter = metrics.build_exporter("127.0.0.1", 0)
    exporter.start()
    try:
        for crash in range(3):
            fragile.tell(crash)
        with pytest.raises(ValueError):  # handled after the tells; an ask's error is no crash
            fragile.ask("after the crashes")
        # The exporter is served by this thread's gevent hub: scrape from a native thread.
        samples = off_the_loop(scrape, exporter.server_port)
    finally:
        exporter.stop(timeout=1)
        fragile.stop()
    assert value(samples, "socketrush_actor_restarts_total", app_id=app_id, actor="Fragile") == 3


def test_docs_list_every_metric() -> None:
    documented = set(
        re.findall(r"^\| `(socketrush_\w+)` \|", (REPO_ROOT / "docs/metrics.md").read_text(), re.M)
    )
    defined = {
        f"{metric._name}_total" if isinstance(metric, Counter) else metric._name
        for metric in vars(metrics).values()
        if isinstance(metric, Counter | Gauge)
    }
    counted_by_census = {
        family.name for family in census.CensusCollector(SimpleNamespace(apps=[]), True).collect()
    }
    assert documented == defined | counted_by_census


def test_http_requests_are_counted_by_view_name(metrics_server: Callable) -> None:
    """API views keep their names without the Blueprint they live in; the dashboard's keep
    it, so its `channels` and `users` are not counted as the API's."""
    flags = ["--dashboard-enabled", "true", "--dashboard-username", "u"]
    server, port = metrics_server(*flags, "--dashboard-password", "p")
    client = sdk(server)
    assert client.channel_info("counted") == {"occupied": False}
    assert client.users_info("presence-counted") == {"users": []}
    for path in ("/dashboard", "/dashboard/api/apps", "/nowhere"):
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.http_url + path, timeout=5)
    samples = scrape(port)
    http = "socketrush_http_requests_total"
    assert value(samples, http, app_id=APP_ID, endpoint="channel", status="200") == 1
    assert value(samples, http, app_id=APP_ID, endpoint="users", status="200") == 1
    assert value(samples, http, app_id="", endpoint="dashboard.page", status="401") == 1
    assert value(samples, http, app_id="", endpoint="dashboard.apps", status="401") == 1
    assert value(samples, http, app_id="", endpoint="unknown", status="404") == 1
