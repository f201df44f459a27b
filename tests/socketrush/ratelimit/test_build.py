"""`build_rate_limiter` picks the driver the adapter implies."""

from __future__ import annotations

import dataclasses

import pytest

from socketrush.config import AppSettings
from socketrush.ratelimit import build_rate_limiter
from socketrush.ratelimit.local import LocalRateLimiter
from socketrush.ratelimit.redis import RedisRateLimiter
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


def test_redis_adapter_without_a_client_is_refused() -> None:
    settings = dataclasses.replace(redis_settings("redis://127.0.0.1:1"), adapter_driver="redis")
    with pytest.raises(ValueError, match="needs a redis client"):
        build_rate_limiter(settings, None)
