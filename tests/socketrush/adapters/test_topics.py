"""Which topic each message travels on, and its name on each bus."""

from __future__ import annotations

from socketrush.adapters.messages import (
    ConsoleRecord,
    ConsoleWatched,
    NodeFigures,
    RemoteBroadcast,
    SubscriptionTotal,
    TerminateUserConnections,
)
from socketrush.adapters.topics import (
    DASHBOARD,
    Topic,
    TopicKind,
    channel_topic,
    console_topic,
    topic_of,
)
from socketrush.nats_client import NatsNames
from socketrush.redis_client import RedisKeys

NEWS = Topic(TopicKind.CHANNEL, "1", "news")
CAROL = Topic(TopicKind.USER, "1", "carol")


def test_a_channel_s_broadcasts_and_counts_share_its_topic() -> None:
    assert topic_of(RemoteBroadcast("1", "news", b"{}", None)) == NEWS
    assert topic_of(SubscriptionTotal("1", "news", 3, 1)) == NEWS
    assert channel_topic("1", "news") == NEWS


def test_a_user_s_events_and_commands_share_the_user_s_topic() -> None:
    assert channel_topic("1", "#server-to-user-carol") == CAROL
    assert topic_of(RemoteBroadcast("1", "#server-to-user-carol", b"{}", None)) == CAROL
    assert topic_of(TerminateUserConnections("1", "carol")) == CAROL


def test_the_dashboard_s_records_are_per_app_and_the_rest_node_wide() -> None:
    assert topic_of(ConsoleRecord("1", b"{}")) == console_topic("1")
    assert topic_of(ConsoleWatched("1")) == DASHBOARD
    assert topic_of(NodeFigures("n", {})) == DASHBOARD


def test_redis_names_carry_no_hash_tag_so_cluster_spreads_them() -> None:
    keys = RedisKeys("rush")
    assert keys.topic(NEWS) == "rush:1:c:news"
    assert keys.topic(CAROL) == "rush:1:u:carol"
    assert keys.topic(console_topic("1")) == "rush:1:d"
    assert keys.topic(DASHBOARD) == "rush:dashboard"
    assert keys.topic(Topic(TopicKind.USER, "1", "{odd}")) == "rush:1:u:{odd}"


def test_nats_names_escape_each_part_into_one_token() -> None:
    names = NatsNames("rush")
    assert names.topic(NEWS) == "rush.1.c.news"
    assert names.topic(Topic(TopicKind.CHANNEL, "app.1", "a.b*c")) == "rush.app=2E1.c.a=2Eb=2Ac"
    assert names.topic(CAROL) == "rush.1.u.carol"
    assert names.topic(console_topic("1")) == "rush.1.d"
    assert names.topic(DASHBOARD) == "rush.dashboard"
