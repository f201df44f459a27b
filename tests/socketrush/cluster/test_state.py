"""The cluster state actor after a crash: it recovers as after an outage, so what the crash
cut short is settled by comparing its mirror with the apps."""

from __future__ import annotations

import uuid

import gevent

from socketrush.cluster.messages import AppSnapshot
from socketrush.cluster.redis_store import RedisStore
from socketrush.cluster.state import ClusterState
from socketrush.redis_client import RedisKeys
from tests.support.cluster import Host, Log
from tests.support.polling import wait_until
from tests.support.redis import RedisServer


class BeatingHost(Host):
    def remote_connections(self, app_id: str, count: int) -> None:
        self.log.entries.append(("remote", app_id, count))


def test_a_crash_makes_the_next_beat_compare_the_mirror_with_the_apps(
    redis_server: RedisServer,
) -> None:
    log = Log()
    host = BeatingHost(log)
    store = RedisStore(
        redis_server.client(decode_responses=True), RedisKeys(f"test-{uuid.uuid4().hex[:8]}")
    )
    state = ClusterState(store, "n1", host, node_timeout=0.4).start()  # beats every 0.1 s
    try:
        # The apps hold a subscriber the actor never wrote (the message that crashed it).
        host.snapshots = [AppSnapshot("app", 0, {"news": 1}, {})]
        gevent.sleep(0.3)  # beats with nothing to do: nothing is compared without a cause
        assert log.entries == []
        state.tell("not a cluster message")  # a crash; the actor is restarted
        occupied = ("notify", "app", {"name": "channel_occupied", "channel": "news"})
        wait_until(lambda: occupied in log.entries, 5, lambda: f"{log.entries}", gevent.sleep)
    finally:
        state.stop()
