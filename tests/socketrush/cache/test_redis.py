"""RedisCache against real Redis: standalone, a 3-master cluster and TLS."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator

import pytest

from socketrush.cache.redis import RedisCache
from socketrush.redis_client import RedisClient, RedisKeys, redis_from_settings
from tests.support.redis import RedisServer, RedisUnavailable, redis_settings


@pytest.fixture(params=["redis_server", "redis_cluster", "redis_tls"])
def client(request: pytest.FixtureRequest) -> Iterator[RedisClient]:
    server = request.getfixturevalue(request.param)
    client = redis_from_settings(
        redis_settings(server.url, cluster=request.param == "redis_cluster")
    )
    client.flushall()
    yield client
    client.close()


def test_set_get_ttl_delete(client: RedisClient) -> None:
    cache = RedisCache(client, RedisKeys("pusher"))
    cache.set("cache-channel:1:cache-a", b'{"event":"e"}', 1800)
    assert cache.get("cache-channel:1:cache-a") == b'{"event":"e"}'
    remaining = cache.ttl("cache-channel:1:cache-a")
    assert remaining is not None and 1799 < remaining <= 1800
    cache.delete("cache-channel:1:cache-a")
    assert cache.get("cache-channel:1:cache-a") is None
    assert cache.ttl("cache-channel:1:cache-a") is None


def test_entries_are_prefixed_strings_with_a_px_expiry(client: RedisClient) -> None:
    RedisCache(client, RedisKeys("deploy")).set("k", b"v", 2.5)
    assert client.get("deploy:cache:k") == b"v"
    assert 2400 < client.pttl("deploy:cache:k") <= 2500


def test_entry_expires(client: RedisClient) -> None:
    cache = RedisCache(client, RedisKeys("pusher"))
    cache.set("k", b"v", 0.05)
    time.sleep(0.06)  # expiry is Redis's clock passing; there is no event to await
    assert cache.get("k") is None
    assert cache.ttl("k") is None


def test_sub_millisecond_ttl_still_sets_an_expiry(client: RedisClient) -> None:
    RedisCache(client, RedisKeys("pusher")).set("k", b"v", 0.0001)
    assert client.pttl("pusher:cache:k") in (-2, 0, 1)  # PX 1: gone or about to be


def test_non_positive_ttl_removes_the_entry(client: RedisClient) -> None:
    cache = RedisCache(client, RedisKeys("pusher"))
    cache.set("k", b"v", 60)
    cache.set("k", b"new", 0)
    assert cache.get("k") is None
    assert client.exists("pusher:cache:k") == 0


def test_key_without_expiry_reports_infinite_ttl(client: RedisClient) -> None:
    client.set("pusher:cache:k", b"v")
    assert RedisCache(client, RedisKeys("pusher")).ttl("k") == math.inf


def test_prefixes_isolate_deployments(client: RedisClient) -> None:
    alpha = RedisCache(client, RedisKeys("alpha"))
    beta = RedisCache(client, RedisKeys("beta"))
    alpha.set("same-key", b"from alpha", 60)
    beta.set("same-key", b"from beta", 60)
    assert alpha.get("same-key") == b"from alpha"
    assert beta.get("same-key") == b"from beta"
    alpha.delete("same-key")
    assert alpha.get("same-key") is None
    assert beta.get("same-key") == b"from beta"


def test_outage_serves_misses_then_recovers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="socketrush.cache.redis")
    with RedisServer() as server:
        client = redis_from_settings(redis_settings(server.url))
        cache = RedisCache(client, RedisKeys("pusher"))
        cache.set("k", b"v", 60)
        server.stop()
        cache.set("k", b"lost", 60)
        assert cache.get("k") is None
        assert cache.ttl("k") is None
        cache.delete("k")
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert (
            warnings[0]
            .getMessage()
            .startswith("redis cache set failed, serving misses until Redis answers: ")
        )
        server.start()  # same port, empty
        assert cache.get("k") is None
        cache.set("k", b"again", 60)
        assert cache.get("k") == b"again"
        assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
            "redis cache reached Redis again"
        ]
        client.close()


def test_missing_redis_server_fails_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RedisUnavailable) as raised:
        RedisServer().start()
    assert str(raised.value) == (
        "redis-server not found in PATH: run .ci/run (it installs redis-server) or "
        "apt-get install redis-server"
    )
