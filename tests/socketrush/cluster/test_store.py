"""The store contract, on both stores: Redis (Lua scripts) and NATS JetStream (compare-and-set).

Every transition the cluster announces is decided here, so each is checked on the real
server: occupied/vacated once, members new once and gone once, limits that hold while nodes
race for the last place, dead nodes' state removed, and the node registry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import gevent
import pytest

from socketrush.cluster.nats_store import NatsStore
from socketrush.cluster.redis_store import RedisStore
from socketrush.cluster.store import (
    ALREADY_MEMBER,
    NEW_MEMBER,
    REFUSED,
    ClusterStore,
    Joined,
    SubscriptionsWritten,
)
from socketrush.nats_bridge import NatsBridge
from socketrush.nats_client import NatsNames, NatsOptions
from socketrush.redis_client import RedisKeys
from tests.support.nats import NatsServer
from tests.support.redis import RedisServer


@contextmanager
def store_on_nats(server: NatsServer, prefix: str) -> Iterator[NatsStore]:
    options = NatsOptions((server.url,), None, None, None, 5.0, 5.0, None)
    bridge = NatsBridge(options, "test")
    bridge.start()
    try:
        yield NatsStore(bridge, NatsNames(prefix), 5.0)
    finally:
        bridge.stop()


@pytest.fixture(params=["redis", "nats"])
def store(request) -> Iterator[ClusterStore]:
    """A store under a prefix of this test's own, on the module's server."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        yield RedisStore(server.client(decode_responses=True), RedisKeys(prefix))
    else:
        with store_on_nats(request.getfixturevalue("nats_server"), prefix) as nats_store:
            yield nats_store


def test_occupied_and_vacated_are_decided_once(store: ClusterStore) -> None:
    first = store.write_subscriptions("app", "n1", "news", 1)
    assert (first.change, first.total, first.before) == (1, 1, 0)
    second = store.write_subscriptions("app", "n2", "news", 2)
    assert (second.change, second.total, second.before) == (0, 3, 0)
    same = store.write_subscriptions("app", "n1", "news", 1)
    assert (same.change, same.total, same.before) == (0, 3, 1)
    assert first.version < second.version < same.version
    assert store.node_channels("app", "n2") == ["news"]
    assert store.channel_totals("app", {"n1", "n2"}) == {"news": 3}
    assert store.channel_totals("app", {"n1"}) == {"news": 1}
    assert store.channel_total("app", "news", {"n2", "n9"}) == 2
    gone = store.write_subscriptions("app", "n2", "news", 0)
    assert (gone.change, gone.total, gone.before) == (0, 1, 2)
    last = store.write_subscriptions("app", "n1", "news", 0)
    assert (last.change, last.total) == (-1, 0)
    assert store.channel_totals("app", {"n1", "n2"}) == {}
    assert store.node_channels("app", "n1") == []
    again = store.write_subscriptions("app", "n1", "news", 1)
    assert again.change == 1 and again.version > last.version


def test_channel_names_of_any_shape_round_trip(store: ClusterStore) -> None:
    odd = "private-a.b*c>d=e;f,g@h"
    store.write_subscriptions("app.1", "n1", odd, 1)
    store.write_subscriptions("app.1", "n1", "#server-to-user-carol", 1)
    assert store.channel_totals("app.1", {"n1"}) == {odd: 1, "#server-to-user-carol": 1}
    assert sorted(store.node_channels("app.1", "n1")) == sorted([odd, "#server-to-user-carol"])
    assert store.channel_totals("app", {"n1"}) == {}


def test_members_join_once_leave_once_and_the_limit_holds(store: ClusterStore) -> None:
    room = "presence-room"
    assert store.join("app", "n1", room, "alice", {"n": 1}, 2) == Joined(
        NEW_MEMBER, {"alice": {"n": 1}}
    )
    assert store.join("app", "n2", room, "bob", None, 2) == Joined(
        NEW_MEMBER, {"alice": {"n": 1}, "bob": None}
    )
    assert store.join("app", "n1", room, "carol", {}, 2).status == REFUSED
    assert store.join("app", "n2", room, "alice", {"n": 1}, 2).status == ALREADY_MEMBER
    assert store.presence_users("app", room, {"n1", "n2"}) == {"alice", "bob"}
    assert store.presence_users("app", room, {"n1"}) == {"alice"}
    assert store.leave("app", "n1", room, "alice") is False  # still on n2
    assert store.leave("app", "n2", room, "alice") is True
    assert store.leave("app", "n2", room, "alice") is False  # a replayed leave: no news
    assert store.join("app", "n1", room, "carol", {}, 2).status == NEW_MEMBER
    assert sorted(store.node_presence_channels("app", "n2")) == [room]


def test_reaping_a_node_removes_only_what_no_other_node_holds(store: ClusterStore) -> None:
    room = "presence-room"
    store.join("app", "n1", room, "alice", None, 0)
    store.join("app", "n1", room, "bob", None, 0)
    store.join("app", "n2", room, "bob", None, 0)
    assert store.node_presence_channels("app", "n1") == [room]
    assert store.reap_presence("app", room, "n1") == ["alice"]
    assert store.presence_users("app", room, {"n1", "n2"}) == {"bob"}
    assert store.reap_presence("app", room, "n1") == []
    store.drop_node_app("app", "n1")
    assert store.node_presence_channels("app", "n1") == []


def test_connections_are_reserved_within_the_limit(store: ClusterStore) -> None:
    store.write_connections("app", "n1", 2)
    assert store.reserve_connection("app", "n2", 1, 3) is True
    assert store.reserve_connection("app", "n2", 2, 3) is False
    assert store.connections("app") == {"n1": 2, "n2": 1}
    store.drop_node_app("app", "n1")
    assert store.connections("app") == {"n2": 1}
    store.write_connections("app", "n2", 0)
    assert store.connections("app") == {}


def test_racing_nodes_never_pass_a_limit_together(store: ClusterStore) -> None:
    """Twenty greenlets join at once as different nodes: exactly the limit gets in."""
    joins = [
        gevent.spawn(store.join, "app", f"n{i}", "presence-race", f"u{i}", None, 5)
        for i in range(20)
    ]
    reserves = [gevent.spawn(store.reserve_connection, "app", f"n{i}", 1, 7) for i in range(20)]
    gevent.joinall([*joins, *reserves], raise_error=True)
    assert sum(job.value.status == NEW_MEMBER for job in joins) == 5
    assert len(store.presence_users("app", "presence-race", {f"n{i}" for i in range(20)})) == 5
    assert sum(job.value for job in reserves) == 7
    assert sum(store.connections("app").values()) == 7
    counts = [gevent.spawn(store.write_subscriptions, "app", f"n{i}", "race", 1) for i in range(20)]
    gevent.joinall(counts, raise_error=True)
    written: list[SubscriptionsWritten] = [job.value for job in counts]
    assert sum(w.change == 1 for w in written) == 1
    assert sorted(w.total for w in written) == list(range(1, 21))


def test_the_registry_tells_new_live_expired_and_forgotten_nodes(store: ClusterStore) -> None:
    assert store.beat("n1", 2_000) is True
    assert store.beat("n1", 3_000) is False
    assert store.beat("n2", 1_000) is True
    assert store.live_nodes(1_500) == {"n1"}
    assert store.expired_nodes(1_500) == ["n2"]
    assert store.lock_reap("n2", "n1", 60) is True
    assert store.lock_reap("n2", "n3", 60) is False
    store.register_app("n2", "app")
    store.register_app("n2", "app")
    store.register_app("n2", "other")
    assert store.node_apps("n2") == {"app", "other"}
    store.forget_node("n2")
    assert store.node_apps("n2") == set()
    assert store.live_nodes(0) == {"n1"}
    assert store.beat("n2", 9_000) is True  # gone from the registry: it was reaped
    epoch = store.epoch()
    assert epoch and store.epoch() == epoch


def test_on_nats_a_channel_whose_members_outgrow_one_message_is_full(
    nats_server: NatsServer,
) -> None:
    """All of a channel's members are one NATS message (1 MB by default): a join that would
    make it larger is refused like one over the member limit, never an endless outage.
    (Redis keeps each member in a hash field of its own.)"""
    with store_on_nats(nats_server, f"test-{uuid.uuid4().hex[:8]}") as store:
        assert_a_full_message_refuses(store)


def assert_a_full_message_refuses(store: NatsStore) -> None:
    big = "x" * 600_000
    assert store.join("app", "n1", "presence-big", "alice", big, 0).status == NEW_MEMBER
    assert store.join("app", "n1", "presence-big", "bob", big, 0) == Joined(REFUSED, {})
    assert store.presence_users("app", "presence-big", {"n1"}) == {"alice"}


def test_on_nats_a_sweep_frees_what_vacated_and_deleted_keys_leave(
    nats_server: NatsServer,
) -> None:
    """Every channel ever occupied leaves a count document (its version), every deleted key
    a marker; the hourly sweep frees those older than its bound, and nothing live."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    with store_on_nats(nats_server, prefix) as store:
        store.write_subscriptions("app", "n1", "gone", 1)
        store.write_subscriptions("app", "n1", "gone", 0)
        store.write_subscriptions("app", "n1", "kept", 2)
        store.join("app", "n1", "presence-gone", "alice", None, 0)
        store.leave("app", "n1", "presence-gone", "alice")
        store.join("app", "n1", "presence-kept", "bob", None, 0)
        assert store.lock_reap("n9", "n1", 60) is True
        assert store.sweep(before_us=0) == 0  # nothing is old enough yet
        future = (time.time() + 3600) * 1_000_000
        assert store.sweep(before_us=int(future)) == 3
        assert store.sweep(before_us=int(future)) == 0

    async def subjects(client) -> dict[str, int]:
        info = await client.jetstream().stream_info(
            f"KV_{NatsNames(prefix).bucket()}", subjects_filter=">"
        )
        return info.state.subjects or {}

    left = {subject.split(".", 2)[2] for subject in nats_server.run(subjects)}
    assert left == {"app.subs.kept", "app.pres.presence-kept"}
