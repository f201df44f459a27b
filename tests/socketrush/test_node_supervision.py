"""Every actor a node starts beside its app and channel actors (webhook notifier, cluster
state, cache actor, Redis publisher) runs under a supervisor: a crash is restarted, counted in
socketrush_actor_restarts_total (scraped from the real metrics port), and the actor goes on
working for real clients."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.support.client import PusherClient, sdk
from tests.support.metrics import other_free_port, scrape, scrape_until, value
from tests.support.nodes import wait_ready
from tests.support.patched import PatchedServer
from tests.support.polling import wait_until
from tests.support.redis import RedisServer
from tests.support.server import APP_ID, ServerProcess
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.timeout(60)

RESTARTS = "socketrush_actor_restarts_total"
NODE_WIDE = ""  # the app_id label of actors that serve every app of the node

# The node is started by a wrapper that hands the chosen actors one message each that they
# cannot handle, through their public interface, right after start (their drivers degrade on
# their own, every payload they see was already parsed as JSON, and the cluster actor reads
# bad counts as 0, so no client input makes them raise).
CRASHING_START = """
from socketrush.node import Node

start = Node.start


def start_then_crash(node):
    start(node)
{crashes}


Node.start = start_then_crash
"""
CRASH_EACH_ONCE = CRASHING_START.format(
    crashes="""    app = node.apps[0]
    app.notifier.tell("crash")  # not a notifier message: TypeError
    node.cache_access.actor.tell("crash")  # not a cache message: TypeError
    node.adapter.publish(app.settings.id, "crash", b"\\xff", None)  # not UTF-8: decode fails"""
)
CRASH_CLUSTER_ONCE = CRASHING_START.format(
    crashes="""    node.cluster.tell("crash")  # not a cluster message: TypeError"""
)


def crashing_node(patch: str = CRASH_EACH_ONCE) -> PatchedServer:
    return PatchedServer(patch=patch)


@pytest.fixture
def prefix() -> str:
    """Each test its own keys in the module's Redis."""
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def started() -> Iterator[list[ServerProcess]]:
    nodes: list[ServerProcess] = []
    yield nodes
    for node in nodes:
        node.stop()


def on_redis(redis_server: RedisServer, prefix: str) -> list[str]:
    return ["--adapter-driver", "redis", "--redis-url", redis_server.url, "--redis-prefix", prefix]


def test_crashed_notifier_cache_and_publisher_restart_count_once_and_keep_working(
    redis_server: RedisServer, prefix: str, started: list[ServerProcess]
) -> None:
    with Receiver() as receiver:
        crashing = crashing_node()
        metrics_port = other_free_port(crashing.port)
        crashing.args = [
            *on_redis(redis_server, prefix),
            *("--cache-driver", "redis"),
            *("--metrics-enabled", "true", "--metrics-port", str(metrics_port)),
            *("--app-webhooks-enabled", "true", "--app-webhook-url", receiver.url),
            *("--app-has-channel-occupied-webhooks", "true"),
        ]
        started.append(crashing.start())
        other = ServerProcess(args=on_redis(redis_server, prefix))
        started.append(other.start())
        for node in started:
            wait_ready(node)
        samples = scrape_until(metrics_port, RESTARTS, 1, app_id=NODE_WIDE, actor="RedisPublisher")
        assert value(samples, RESTARTS, app_id=APP_ID, actor="WebhookNotifier") == 1
        assert value(samples, RESTARTS, app_id=NODE_WIDE, actor="CacheActor") == 1
        assert value(samples, RESTARTS, app_id=NODE_WIDE, actor="RedisPublisher") == 1

        here, there = PusherClient.connect(crashing), PusherClient.connect(other)
        try:
            # The notifier still sends webhooks.
            here.subscribe("room")
            here.recv_event("pusher_internal:subscription_succeeded")
            (occupied,) = receiver.wait_for(1)
            assert occupied.events == [{"name": "channel_occupied", "channel": "room"}]
            # The publisher still reaches the other node.
            there.subscribe("room")
            there.recv_event("pusher_internal:subscription_succeeded")
            assert sdk(crashing).trigger("room", "headline", "after the crash") == {}
            expected = {"event": "headline", "channel": "room", "data": "after the crash"}
            assert there.recv() == expected
            assert here.recv() == expected
            # The cache actor still stores and fetches.
            assert sdk(crashing).trigger("cache-prices", "tick", {"n": 1}) == {}
            here.subscribe("cache-prices")
            here.recv_event("pusher_internal:subscription_succeeded")
            assert here.recv() == {"event": "tick", "channel": "cache-prices", "data": {"n": 1}}
        finally:
            here.close()
            there.close()

    samples = scrape(metrics_port)
    restarted = {
        (dict(labels)["app_id"], dict(labels)["actor"]): count
        for (name, labels), count in samples.items()
        if name == RESTARTS
    }
    assert restarted == {
        (APP_ID, "WebhookNotifier"): 1,
        (NODE_WIDE, "CacheActor"): 1,
        (NODE_WIDE, "RedisPublisher"): 1,
    }
    crashes = [line for line in crashing.log().splitlines() if " crashed handling " in line]
    assert sorted(line[line.index("actor ") : line.index(";")] for line in crashes) == [
        "actor cache crashed handling str",
        "actor redis-publisher crashed handling RemoteBroadcast",
        f"actor webhooks:{APP_ID} crashed handling str",
    ]


def node_score(client: redis.Redis, prefix: str, node_id: str) -> float:
    score = client.zscore(f"{{{prefix}}}:nodes", node_id)
    assert score is not None
    return score


def test_cluster_state_restarts_after_a_crash_keeps_beating_and_reads_bad_counts_as_zero(
    redis_server: RedisServer, prefix: str, started: list[ServerProcess]
) -> None:
    node = crashing_node(CRASH_CLUSTER_ONCE)
    metrics_port = other_free_port(node.port)
    node.args = [
        *on_redis(redis_server, prefix),
        *("--metrics-enabled", "true", "--metrics-port", str(metrics_port)),
    ]
    started.append(node.start())
    wait_ready(node)
    samples = scrape_until(
        metrics_port, RESTARTS, 1, timeout=15, app_id=NODE_WIDE, actor="ClusterState"
    )
    assert value(samples, RESTARTS, app_id=NODE_WIDE, actor="ClusterState") == 1
    client = redis_server.client(decode_responses=True)
    (node_id,) = client.zrange(f"{{{prefix}}}:nodes", 0, -1)
    connections = f"{{{prefix}:{APP_ID}}}:connections"
    alice = PusherClient.connect(node)  # the node now writes the app's connection count
    try:
        # Another live node's count that is not a number (a hand edit): the heartbeat, which
        # sums the other nodes' counts, reads it as 0 instead of failing at every beat.
        client.zadd(f"{{{prefix}}}:nodes", {"ghost": time.time() * 1000 + 60_000})
        client.hset(connections, "ghost", "many")
        alice.subscribe("room")  # a write and a query after the crash
        alice.recv_event("pusher_internal:subscription_succeeded")
        assert sdk(node).channels_info() == {"channels": {"room": {}}}
        for _ in range(2):  # two beats: the second one surely read the bad count
            beat = node_score(client, prefix, node_id)
            wait_until(
                lambda beat=beat: node_score(client, prefix, node_id) != beat,
                10,
                lambda: "no heartbeat after the crash",
            )
        assert value(scrape(metrics_port), RESTARTS, app_id=NODE_WIDE, actor="ClusterState") == 1
    finally:
        alice.close()
        client.zrem(f"{{{prefix}}}:nodes", "ghost")
        client.close()
    log = node.log()
    crashes = [line for line in log.splitlines() if " crashed handling " in line]
    assert len(crashes) == 1
    assert "actor cluster-state crashed handling str" in crashes[0]
    assert log.count(f"{connections}[ghost] is not a count ('many'); counting it as 0") == 1
