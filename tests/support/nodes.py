"""Several Socket Rush nodes as separate processes, sharing a Redis or a NATS (`bus.py`)."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.bus import Bus
from tests.support.client import PusherClient, sdk
from tests.support.metrics import other_free_port
from tests.support.polling import wait_until
from tests.support.server import ServerProcess


def is_ready(server: ServerProcess) -> bool:
    """GET /ready: 200 once the node's adapter is connected, 503 before (anything else fails)."""
    try:
        with urllib.request.urlopen(server.http_url + "/ready", timeout=1) as reply:
            return reply.status == 200
    except urllib.error.HTTPError as error:
        assert error.code == 503
        return False
    except OSError:
        return False


def wait_ready(server: ServerProcess, timeout: float = 15.0) -> None:
    """Poll /ready until the node's adapter is connected (another process: nothing to await)."""
    wait_until(
        lambda: is_ready(server),
        timeout,
        lambda: f"{server.http_url} never became ready:\n{server.log()}",
    )


def start_nodes(
    adapter_args: list[str], count: int, *extra: str, metered: bool = False
) -> list[ServerProcess]:
    """`metered`: each node serves its metrics on a port of its own (`node.metrics_port`)."""
    nodes = []
    for _ in range(count):
        node = ServerProcess(args=[*adapter_args, "--app-enable-client-messages", "true", *extra])
        if metered:
            node.metrics_port = other_free_port(node.port)  # type: ignore[attr-defined]
            node.args += ["--metrics-enabled", "true", "--metrics-port", str(node.metrics_port)]
        nodes.append(node.start())
    for node in nodes:
        wait_ready(node)
    return nodes


@pytest.fixture
def nodes_on(request) -> Iterator[Callable[..., list[ServerProcess]]]:
    """`nodes_on(bus, count, *flags, metered=False)`: `count` nodes on `bus` (or on the Redis
    at a URL), stopped after the test."""
    started: list[ServerProcess] = []
    # Each test its own keys: a node one test killed is never reaped into the next test's
    # channels (the server is shared by the module).
    prefix = f"test-{uuid.uuid4().hex[:8]}"

    def factory(
        target: Bus | str, count: int = 2, *extra: str, metered: bool = False
    ) -> list[ServerProcess]:
        if isinstance(target, str):
            adapter_args = ["--adapter-driver", "redis", "--redis-url", target]
            adapter_args += ["--redis-prefix", prefix]
        else:
            adapter_args = target.node_args(prefix)
        started.extend(start_nodes(adapter_args, count, *extra, metered=metered))
        return started[-count:]

    factory.prefix = prefix  # type: ignore[attr-defined]
    yield factory
    for node in started:
        node.stop()


def assert_cross_node_delivery(nodes: list[ServerProcess]) -> None:
    """A subscriber on every node gets an event published through any node, exactly once."""
    clients = [PusherClient.connect(node) for node in nodes]
    try:
        for client in clients:
            client.subscribe("news")
            assert client.recv_event("pusher_internal:subscription_succeeded")["channel"] == "news"
        for index, publisher in enumerate(nodes):
            assert sdk(publisher).trigger("news", "headline", f"from node {index}") == {}
            for client in clients:
                assert client.recv() == {
                    "event": "headline",
                    "channel": "news",
                    "data": f"from node {index}",
                }
        for client in clients:
            client.send("pusher:ping")
            assert client.recv()["event"] == "pusher:pong"  # nothing else was queued
    finally:
        for client in clients:
            client.close()
