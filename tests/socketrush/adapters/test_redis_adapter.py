"""Two nodes sharing one Redis behave as one server for delivery (the redis adapter)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.client import PusherClient, sdk, subscribe_signed
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess


def wait_ready(server: ServerProcess, timeout: float = 15.0) -> None:
    """Poll /ready until the node's adapter is subscribed (another process: nothing to await)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(server.http_url + "/ready", timeout=1) as reply:
                if reply.status == 200:
                    return
        except urllib.error.HTTPError as error:
            assert error.code == 503
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{server.http_url} never became ready:\n{server.log()}")


def start_nodes(url: str, count: int, *extra: str) -> list[ServerProcess]:
    nodes = []
    for _ in range(count):
        node = ServerProcess(
            args=[
                "--adapter-driver",
                "redis",
                "--redis-url",
                url,
                "--app-enable-client-messages",
                "true",
                *extra,
            ]
        ).start()
        nodes.append(node)
    for node in nodes:
        wait_ready(node)
    return nodes


@pytest.fixture
def nodes_on(request) -> Iterator[Callable[..., list[ServerProcess]]]:
    started: list[ServerProcess] = []
    # Each test its own keys: a node one test killed is never reaped into the next test's
    # channels (the Redis server is shared by the module).
    prefix = f"test-{uuid.uuid4().hex[:8]}"

    def factory(url: str, count: int = 2, *extra: str) -> list[ServerProcess]:
        started.extend(start_nodes(url, count, "--redis-prefix", prefix, *extra))
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


def test_standalone_redis_delivers_across_three_nodes(redis_server: RedisServer, nodes_on) -> None:
    assert_cross_node_delivery(nodes_on(redis_server.url, 3))


def test_redis_cluster_delivers_across_nodes(redis_cluster, nodes_on) -> None:
    assert_cross_node_delivery(nodes_on(redis_cluster.url, 2, "--redis-cluster", "true"))


def test_redis_over_tls_delivers_across_nodes(redis_tls, nodes_on) -> None:
    assert_cross_node_delivery(nodes_on(redis_tls.url, 2))


def test_exclusion_and_client_events_cross_nodes(redis_server: RedisServer, nodes_on) -> None:
    first, second = nodes_on(redis_server.url, 2)
    alice, bob = PusherClient.connect(first), PusherClient.connect(second)
    try:
        for server, client in ((first, alice), (second, bob)):
            subscribe_signed(server, client, "private-room")
            client.recv_event("pusher_internal:subscription_succeeded")
        alice.send("client-typing", {"who": "alice"}, channel="private-room")
        assert bob.recv() == {
            "event": "client-typing",
            "channel": "private-room",
            "data": {"who": "alice"},
        }
        # Excluding alice's socket through the other node still excludes her.
        sdk(second).trigger("private-room", "note", "not for alice", socket_id=alice.socket_id)
        assert bob.recv()["data"] == "not for alice"
        sdk(first).trigger("private-room", "note", "for both")
        assert alice.recv()["data"] == "for both"
        assert bob.recv()["data"] == "for both"
    finally:
        alice.close()
        bob.close()


def test_nodes_survive_a_redis_restart(nodes_on) -> None:
    with RedisServer() as redis:
        first, second = nodes_on(redis.url, 2)
        local = PusherClient.connect(first)
        remote = PusherClient.connect(second)
        try:
            for client in (local, remote):
                client.subscribe("news")
                client.recv_event("pusher_internal:subscription_succeeded")
            redis.stop()
            # During the outage, local delivery goes on.
            assert sdk(first).trigger("news", "local", "still here") == {}
            assert local.recv()["data"] == "still here"
            redis.start()
            wait_ready(first)
            wait_ready(second)
            assert sdk(first).trigger("news", "back", "across again") == {}
            assert local.recv()["data"] == "across again"
            assert remote.recv_event("back")["data"] == "across again"
        finally:
            local.close()
            remote.close()
