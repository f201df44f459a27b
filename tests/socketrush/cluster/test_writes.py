"""Writer: a channel learns the version of its count before the count itself is announced."""

from __future__ import annotations

import uuid

from socketrush.cluster.messages import ChannelCount, CountWritten
from socketrush.cluster.redis_store import RedisStore
from socketrush.cluster.store import NEW_MEMBER, Joined
from socketrush.cluster.writes import Writer
from socketrush.redis_client import RedisKeys
from tests.support.cluster import Channel, Host, Log
from tests.support.redis import RedisServer


def writer_on(server: RedisServer, log: Log) -> Writer:
    """A writer for node n1 under keys of this test's own."""
    keys = RedisKeys(f"test-{uuid.uuid4().hex[:8]}")
    return Writer(RedisStore(server.client(decode_responses=True), keys), "n1", Host(log))


def test_the_channel_hears_the_version_before_the_count_is_announced(
    redis_server: RedisServer,
) -> None:
    log = Log()
    writer, channel = writer_on(redis_server, log), Channel(log)
    writer.write_count(ChannelCount("app", "news", 1, True, 1, channel))
    version = log.entries[-1][-1]
    assert version > 0
    assert log.entries == [
        ("notify", "app", {"name": "channel_occupied", "channel": "news"}),
        ("channel", CountWritten(1, version)),
        ("count", "app", "news", 1, version),
    ]
    log.entries.clear()
    # The same count again changes no total: nothing announced, and the channel hears so.
    writer.write_count(ChannelCount("app", "news", 1, True, 2, channel))
    assert log.entries == [("channel", CountWritten(2, None))]


def test_a_member_with_unreadable_user_info_is_listed_without_it(
    redis_server: RedisServer,
) -> None:
    """Only a hand-edited key holds such a value; the join must still get its member list."""
    keys = RedisKeys(f"test-{uuid.uuid4().hex[:8]}")
    client = redis_server.client(decode_responses=True)
    client.hset(keys.app("app", "presence", "presence-room"), "n2|mallory", "{not json")
    writer = Writer(RedisStore(client, keys), "n1", Host(Log()))
    joined = writer.write_join("app", "presence-room", "alice", {"name": "A"}, 100)
    assert joined == Joined(NEW_MEMBER, {"mallory": None, "alice": {"name": "A"}})
