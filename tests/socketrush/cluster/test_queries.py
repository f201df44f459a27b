"""Queries: a count in Redis that is not a number (a hand edit) counts as 0, logged once per
field, instead of failing the heartbeat and every query that reads it."""

from __future__ import annotations

import logging
import uuid

import pytest

from socketrush.channels import ChannelStats
from socketrush.cluster.messages import ChannelQuery, ChannelsQuery
from socketrush.cluster.queries import Queries
from socketrush.cluster.redis_store import RedisStore
from socketrush.redis_client import RedisKeys
from tests.support.redis import RedisServer

NOW = 1_000.0  # seconds, the queries' clock


@pytest.fixture
def cluster(redis_server: RedisServer):
    """Queries over keys of this test's own, with live nodes n1 and n2 and a dead n3."""
    client = redis_server.client(decode_responses=True)
    keys = RedisKeys(f"test-{uuid.uuid4().hex[:8]}")
    expiry_ms = (NOW + 10) * 1000
    client.zadd(keys.nodes(), {"n1": expiry_ms, "n2": expiry_ms, "n3": NOW * 1000 - 1})
    return client, keys, Queries(RedisStore(client, keys), lambda: NOW)


def bad_count_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is not a count" in r.getMessage()]


def test_a_bad_connection_count_counts_as_zero_and_is_logged_once(
    cluster, caplog: pytest.LogCaptureFixture
) -> None:
    client, keys, queries = cluster
    key = keys.app("app", "connections")
    client.hset(key, mapping={"n1": "3", "n2": "many", "n3": "7"})
    live = queries.live_nodes()
    with caplog.at_level(logging.WARNING, logger="socketrush.cluster.redis_store"):
        assert queries.other_connections("app", "n1", live) == 0
        assert queries.other_connections("app", "n2", live) == 3
        assert queries.other_connections("app", "n1", live) == 0
    assert bad_count_warnings(caplog) == [
        f"cluster: {key}[n2] is not a count ('many'); counting it as 0"
    ]


def test_channel_queries_skip_what_a_bad_count_spoils(cluster) -> None:
    client, keys, queries = cluster
    client.hset(keys.app("app", "node", "n1", "channels"), mapping={"news": "2", "odd": "x"})
    client.hset(keys.app("app", "node", "n2", "channels"), mapping={"news": "?", "more": "1"})
    client.hset(keys.app("app", "subs", "news"), mapping={"n1": "2", "n2": "?"})
    client.hset(keys.app("app", "subs", "odd"), mapping={"n1": "x"})

    assert queries.channels(ChannelsQuery("app", "", False)) == {
        "news": ChannelStats(2, None),
        "more": ChannelStats(1, None),
    }
    assert queries.channel(ChannelQuery("app", "news")) == ChannelStats(2, None)
    assert queries.channel(ChannelQuery("app", "odd")) is None
