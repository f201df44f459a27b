"""Channel info of a cache channel whose entry in a shared Redis cache was not written by
Socket Rush: a real server on a real Redis, the entry planted with redis-py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.client import sdk
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess

KEY = "pusher:cache:cache-channel:424242:cache-planted"


@pytest.fixture
def cached_server(redis_server: RedisServer) -> Iterator[ServerProcess]:
    flags = ["--cache-driver", "redis", "--redis-url", redis_server.url]
    with ServerProcess(args=flags) as server:
        yield server


def test_cached_event_without_expiry_reads_as_the_longest_ttl(
    cached_server: ServerProcess, redis_server: RedisServer
) -> None:
    """PTTL -1 (no expiry) used to be turned into int(inf): a 500."""
    client = redis_server.client()
    client.set(KEY, b'{"event":"tick","channel":"cache-planted","data":"1"}')
    try:
        answer = sdk(cached_server).channel_info("cache-planted", ["cache"])
    finally:
        client.delete(KEY)
        client.close()
    assert answer == {"occupied": False, "cache": {"event": "tick", "data": "1", "ttl": 1800}}


def test_unreadable_cached_event_is_left_out_and_logged(
    cached_server: ServerProcess, redis_server: RedisServer
) -> None:
    client = redis_server.client()
    client.set(KEY, b"\xff not json", px=60_000)
    try:
        answer = sdk(cached_server).channel_info("cache-planted", ["cache"])
    finally:
        client.delete(KEY)
        client.close()
    assert answer == {"occupied": False}
    assert "ignored an unreadable cached event for cache-planted of app 424242" in (
        cached_server.log()
    )
