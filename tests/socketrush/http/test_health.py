"""Health and usage endpoints of a real server process."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from socketrush.http.api import create_flask_app
from tests.support.client import PusherClient
from tests.support.server import ServerProcess


def get(server: ServerProcess, path: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(server.http_url + path, timeout=5) as response:
        return response.status, response.headers.get_content_type(), response.read()


def test_root_is_ok(server: ServerProcess) -> None:
    assert get(server, "/") == (200, "text/plain", b"OK")


def test_ready_is_ok_once_started(server: ServerProcess) -> None:
    assert get(server, "/ready") == (200, "text/plain", b"OK")


def test_usage_reports_memory_and_open_connections(start_server: Callable) -> None:
    fresh = start_server()  # its own server, so no other test's sockets are counted
    clients = [PusherClient.connect(fresh) for _ in range(3)]
    try:
        status, content_type, body = get(fresh, "/usage")
    finally:
        for client in clients:
            client.close()
    usage = json.loads(body)
    assert (status, content_type) == (200, "application/json")
    assert usage["connections"] == 3
    assert set(usage["memory"]) == {"rss_bytes", "max_rss_bytes"}
    assert all(usage["memory"][name] > 1024 * 1024 for name in usage["memory"])


def test_accept_traffic_is_ok_while_serving(server: ServerProcess) -> None:
    assert get(server, "/accept-traffic") == (200, "text/plain", b"OK")


@pytest.mark.parametrize(("ready", "status"), [(True, 200), (False, 503)])
def test_accept_traffic_follows_readiness_not_the_adapter(ready: bool, status: int) -> None:
    """Starting and draining nodes are not ready; the listener is closed as a drain starts,
    so the 503 is asserted in process."""
    settings = SimpleNamespace(apps=(), cors_allowed_origins=())
    node = SimpleNamespace(
        settings=settings,
        ready=ready,
        adapter=SimpleNamespace(healthy=False),
        dashboard=SimpleNamespace(enabled=False),
    )
    response = create_flask_app(node).test_client().get("/accept-traffic")
    body = b"OK" if ready else b"NOT ACCEPTING TRAFFIC"
    assert (response.status_code, response.data) == (status, body)
