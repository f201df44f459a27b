"""`build_rate_limiter` picks the driver the adapter implies."""

from __future__ import annotations

import dataclasses

import pytest

from socketrush.nats_bridge import NatsBridge
from socketrush.nats_client import nats_options
from socketrush.ratelimit import build_rate_limiter
from socketrush.ratelimit.local import LocalRateLimiter
from socketrush.ratelimit.nats import NatsRateLimiter
from socketrush.ratelimit.redis import RedisRateLimiter
from socketrush.settings import AppSettings
from tests.support.nats import NatsServer
from tests.support.redis import RedisServer, redis_settings


def test_local_adapter_counts_in_process() -> None:
    settings = redis_settings("redis://127.0.0.1:1")
    assert settings.adapter_driver == "local"
    assert isinstance(build_rate_limiter(settings, None), LocalRateLimiter)


def test_redis_adapter_counts_in_redis_under_the_prefix(redis_server: RedisServer) -> None:
    settings = redis_settings(redis_server.url, prefix="built")
    settings = dataclasses.replace(settings, adapter_driver="redis")
    client = redis_server.client()
    limiter = build_rate_limiter(settings, client)
    assert isinstance(limiter, RedisRateLimiter)
    app = AppSettings(id="app-1", key="k", secret="s", max_backend_events_per_second=5)
    assert limiter.take(app, "backend_events", 2) is True
    [key] = client.keys("{built:app-1}:rate:backend_events:*")
    assert client.get(key) == b"2"


def test_nats_adapter_counts_in_a_bucket_of_its_own(nats_server: NatsServer) -> None:
    settings = dataclasses.replace(
        redis_settings("redis://127.0.0.1:1"),
        adapter_driver="nats",
        adapter_nats_servers=(nats_server.url,),
        adapter_nats_prefix="built",
    )
    bridge = NatsBridge(nats_options(settings), "test")
    bridge.start()
    try:
        limiter = build_rate_limiter(settings, None, bridge)
        assert isinstance(limiter, NatsRateLimiter)
        app = AppSettings(id="app-1", key="k", secret="s", max_backend_events_per_second=5)
        assert limiter.take(app, "backend_events", 2) is True
        assert limiter.take(app, "backend_events", 4) is False  # 6 > 5: nothing counted
        assert limiter.take(app, "backend_events", 3) is True
    finally:
        bridge.stop()

    async def windows(client) -> dict[str, int]:
        bucket = await client.jetstream().key_value("built_rates")
        keys = await bucket.keys()
        return {key: int((await bucket.get(key)).value) for key in keys}

    counted = nats_server.run(windows)  # one window, or two if the second turned meanwhile
    assert all(key.startswith("app-1.backend_events.") for key in counted)
    assert sum(counted.values()) == 5


def test_nats_adapter_without_its_connection_is_refused() -> None:
    settings = dataclasses.replace(redis_settings("redis://127.0.0.1:1"), adapter_driver="nats")
    with pytest.raises(ValueError, match="needs the adapter's connection"):
        build_rate_limiter(settings, None)


def test_redis_adapter_without_a_client_is_refused() -> None:
    settings = dataclasses.replace(redis_settings("redis://127.0.0.1:1"), adapter_driver="redis")
    with pytest.raises(ValueError, match="needs a redis client"):
        build_rate_limiter(settings, None)
