"""The Redis driver against real Redis servers: one shared window per app and kind, driven by
an injected clock, and requests allowed while Redis is away."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import REGISTRY
from redis.cluster import RedisCluster as ClusterClient

from socketrush.ratelimit.base import Kind
from socketrush.ratelimit.redis import WINDOW_TTL_SECONDS, RedisRateLimiter
from socketrush.redis_client import RedisKeys
from socketrush.settings import AppSettings
from tests.socketrush.ratelimit.clock import Clock
from tests.support.redis import RedisCluster, RedisServer

APP = AppSettings(
    id="app-1", key="k", secret="s", max_backend_events_per_second=3, max_read_requests_per_second=2
)
KEYS = RedisKeys("pusher")
APP_IDS = ("app-1", "app-2", "app-3")


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


def two_nodes(client: redis.Redis | ClusterClient, clock: Clock) -> list[RedisRateLimiter]:
    """Two limiters counting in one Redis, as two nodes do."""
    return [RedisRateLimiter(client, KEYS, clock) for _ in range(2)]


def alternate(
    limiters: list[RedisRateLimiter], app: AppSettings, kind: Kind, takes: int
) -> list[bool]:
    return [limiters[i % 2].take(app, kind) for i in range(takes)]


def test_exact_counts_across_nodes_in_one_window(client: redis.Redis) -> None:
    nodes = two_nodes(client, Clock(1000.4))
    assert alternate(nodes, APP, "backend_events", 5) == [True, True, True, False, False]
    assert alternate(nodes, APP, "read_requests", 4) == [True, True, False, False]
    other = dataclasses.replace(APP, id="app-2")
    assert alternate(nodes, other, "backend_events", 4) == [True, True, True, False]
    assert client.get("{pusher:app-1}:rate:backend_events:1000") == b"3"
    assert client.get("{pusher:app-1}:rate:read_requests:1000") == b"2"
    assert client.ttl("{pusher:app-1}:rate:backend_events:1000") == WINDOW_TTL_SECONDS


def test_next_second_starts_from_zero(client: redis.Redis) -> None:
    clock = Clock(1000.0)
    nodes = two_nodes(client, clock)
    assert nodes[0].take(APP, "backend_events", 3) is True
    clock.now = 1000.999
    assert nodes[1].take(APP, "backend_events") is False
    clock.now = 1001.0
    assert alternate(nodes, APP, "backend_events", 4) == [True, True, True, False]


def test_a_refused_take_uses_nothing(client: redis.Redis) -> None:
    limiter = RedisRateLimiter(client, KEYS, Clock(1000.0))
    answers = [limiter.take(APP, "backend_events", count) for count in (2, 2, 1, 1)]
    assert answers == [True, False, True, False]
    assert client.get("{pusher:app-1}:rate:backend_events:1000") == b"3"


def test_an_unlimited_app_never_asks_redis(client: redis.Redis) -> None:
    limiter = RedisRateLimiter(client, KEYS, Clock(1000.0))
    unlimited = dataclasses.replace(APP, max_backend_events_per_second=0)
    assert all(limiter.take(unlimited, "backend_events", 1000) for _ in range(10))
    assert client.keys("*") == []


def test_counts_on_redis_cluster(redis_cluster: RedisCluster) -> None:
    """Each app's window lives on the shard its hash tag picks; these three ids pick three."""
    client = ClusterClient.from_url(redis_cluster.url)
    nodes = two_nodes(client, Clock(1000.0))
    keys = [f"{{pusher:{app_id}}}:rate:backend_events:1000" for app_id in APP_IDS]
    assert len({client.get_node_from_key(key).name for key in keys}) == 3
    for app_id, key in zip(APP_IDS, keys, strict=True):
        app = dataclasses.replace(APP, id=app_id)
        assert alternate(nodes, app, "backend_events", 4) == [True, True, True, False]
        assert client.get(key) == b"3"
    client.close()


def unchecked(kind: Kind) -> float:
    labels = {"app_id": APP.id, "kind": kind}
    return REGISTRY.get_sample_value("socketrush_rate_limit_unchecked_total", labels) or 0.0


def test_redis_down_allows_and_warns_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="socketrush.ratelimit.redis")
    with RedisServer() as server:
        client = server.client()
        limiter = RedisRateLimiter(client, KEYS, Clock(1000.0))
        before = unchecked("read_requests")
        server.stop()
        assert [limiter.take(APP, "read_requests") for _ in range(4)] == [True] * 4
        assert unchecked("read_requests") - before == 4
        server.start()  # empty, as after a restart: the window starts again
        assert [limiter.take(APP, "read_requests") for _ in range(3)] == [True, True, False]
        server.stop()
        assert limiter.take(APP, "read_requests") is True
        client.close()
    failed = "rate limiter: redis failed, allowing requests unchecked: %s"
    assert [(record.levelname, record.msg) for record in caplog.records] == [
        ("WARNING", failed),
        ("INFO", "rate limiter: redis answers again, limits apply"),
        ("WARNING", failed),
    ]
