"""NATS-only behaviour of the adapter: TLS to NATS, readiness while NATS is away, a NATS
restart under traffic, and a subscription NATS refuses (the tests every bus runs are in
test_cross_node.py)."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import gevent
import pytest
from gevent.event import Event

from socketrush.adapters.messages import NodeMessage, RemoteBroadcast, encode
from socketrush.adapters.nats import NatsAdapter
from socketrush.adapters.topics import Topic, channel_topic
from socketrush.nats_client import NatsNames, NatsOptions
from tests.support.bus import NatsBus
from tests.support.client import PusherClient, sdk
from tests.support.cluster import join
from tests.support.nats import NatsServer
from tests.support.nodes import assert_cross_node_delivery, wait_ready
from tests.support.polling import wait_until
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def own_nats() -> Iterator[NatsServer]:
    with NatsServer() as server:
        yield server


def test_nats_over_tls_delivers_across_nodes(nats_tls: NatsServer, nodes_on) -> None:
    assert_cross_node_delivery(nodes_on(NatsBus(nats_tls), 2))


def ready_status(node: ServerProcess) -> int:
    try:
        with urllib.request.urlopen(node.http_url + "/ready", timeout=1) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_node_is_not_ready_while_nats_is_away(own_nats: NatsServer, nodes_on) -> None:
    (node,) = nodes_on(NatsBus(own_nats), 1)
    assert ready_status(node) == 200
    own_nats.stop()
    wait_until(lambda: ready_status(node) == 503, 15, lambda: "still ready without NATS")
    own_nats.start()
    wait_until(lambda: ready_status(node) == 200, 15, lambda: "not ready after NATS returned")


def test_a_nats_restart_under_traffic_loses_no_state_and_delivery_resumes(
    own_nats: NatsServer, nodes_on
) -> None:
    first, second = nodes_on(NatsBus(own_nats), 2)
    alice, _ = join(first, "alice")
    bob, presence = join(second, "bob")
    assert presence["count"] == 2
    assert alice.recv_event("pusher_internal:member_added")["data"]["user_id"] == "bob"
    watcher = PusherClient.connect(second)
    watcher.subscribe("news")
    watcher.recv_event("pusher_internal:subscription_succeeded")
    api = sdk(first)

    def publish(numbers: range) -> None:
        for number in numbers:
            assert api.trigger("news", "tick", number) == {}

    publish(range(0, 20))
    # Acknowledged means nats-server took them, not that they left its buffers: a server
    # killed at once may take the last ones with it. So they arrive before the kill.
    assert [watcher.recv_event("tick")["data"] for _ in range(20)] == list(range(20))
    own_nats.restart()  # killed, back with its JetStream store
    publish(range(20, 60))  # while the nodes find out and reconnect
    wait_ready(first)
    wait_ready(second)
    publish(range(60, 100))
    received = []
    while not received or received[-1] != 99:
        received.append(watcher.recv_event("tick", timeout=10)["data"])
    # In order and never twice; everything sent once both nodes were back arrived (what was
    # sent while NATS was away arrives if nats-py had it buffered, or not at all).
    assert received == sorted(set(received))
    assert received[0] >= 20
    assert set(range(60, 100)) <= set(received)
    # The cluster state outlived the restart: a new member is new everywhere, the old ones
    # are still known to every node.
    carol, presence = join(first, "carol")
    assert sorted(presence["ids"]) == ["alice", "bob", "carol"]
    assert bob.recv_event("pusher_internal:member_added")["data"]["user_id"] == "carol"
    users = sorted(u["id"] for u in sdk(second).users_info("presence-room")["users"])
    assert users == ["alice", "bob", "carol"]
    for node in (first, second):
        assert "Traceback" not in node.log()
    for client in (alice, bob, carol, watcher):
        client.close()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--adapter-nats-prefix", "a.b"),
            "adapter_nats_prefix 'a.b' must be letters, digits, - and _ only",
        ),
        (
            ("--adapter-nats-servers", "redis://127.0.0.1:1"),
            "adapter_nats_servers: scheme 'redis' is not supported",
        ),
    ],
)
def test_bad_nats_settings_stop_start_up_with_one_clear_line(
    flags: tuple[str, ...], message: str
) -> None:
    node = ServerProcess(args=["--adapter-driver", "nats", *flags])
    done = subprocess.run(node.command(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_node_started_before_nats_serves_its_clients_then_joins_the_cluster(nodes_on) -> None:
    server = NatsServer()  # its port is chosen; nothing listens there yet
    try:
        bus = NatsBus(server)
        lonely = ServerProcess(
            args=[*bus.node_args(nodes_on.prefix), "--node-timeout-seconds", "2"]
        )
        lonely.start()
        try:
            assert ready_status(lonely) == 503
            alice, presence = join(lonely, "alice")  # decided locally, at once
            assert presence["ids"] == ["alice"]
            server.start()
            wait_ready(lonely)
            (other,) = nodes_on(bus, 1, "--node-timeout-seconds", "2")
            wait_until(
                lambda: (
                    [u["id"] for u in sdk(other).users_info("presence-room")["users"]] == ["alice"]
                ),
                15,
                lambda: "alice never reached the cluster state",
            )
            bob, presence = join(other, "bob")
            assert sorted(presence["ids"]) == ["alice", "bob"]
            assert alice.recv_event("pusher_internal:member_added")["data"]["user_id"] == "bob"
            for client in (alice, bob):
                client.close()
        finally:
            lonely.stop()
        assert "Traceback" not in lonely.log()
    finally:
        server.remove()


class RefusingNames(NatsNames):
    """Names the channel "refused" with a subject nats-py refuses (a space), which no real
    name can be: a subscribe that fails deterministically, on a live connection."""

    def topic(self, topic: Topic) -> str:
        return "refused subject" if topic.name == "refused" else super().topic(topic)


def test_a_refused_subscribe_is_not_ready_and_is_asked_again(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refused subject used to abort its batch, reported done all the same: its watcher
    was told it was ready, and a subject after it in the batch was never subscribed."""
    options = NatsOptions((nats_server.url,), None, None, None, 2.0, 2.0, None)
    adapter = NatsAdapter(options, RefusingNames(f"t{uuid.uuid4().hex[:8]}"))
    batches: list[list[str]] = []
    route = adapter.bridge.route

    def recording_route(subscribe, unsubscribe, handler, done) -> None:
        batches.append(sorted(subscribe))
        route(subscribe, unsubscribe, handler, done)

    monkeypatch.setattr(adapter.bridge, "route", recording_route)
    delivered: list[NodeMessage] = []
    adapter.start(delivered.append)
    try:
        wait_until(lambda: adapter._interest.connected, 10, lambda: "never connected", gevent.sleep)
        refused, news = Event(), Event()
        assert adapter.watch(channel_topic("1", "refused"), refused.set) is False
        assert adapter.watch(channel_topic("1", "news"), news.set) is False  # the same batch
        assert news.wait(5), "news was never subscribed"
        assert not refused.is_set()
        assert not adapter._interest.asked_for("refused subject")
        message = RemoteBroadcast("1", "news", b"{}", None)

        async def publish(client) -> None:
            await client.publish(adapter.names.channel("1", "news"), encode("other", message))
            await client.flush()

        nats_server.run(publish)
        wait_until(lambda: delivered, 5, lambda: "nothing delivered", gevent.sleep)
        assert delivered == [message]
        wait_until(lambda: len(batches) >= 3, 10, lambda: f"only {batches}", gevent.sleep)
        news_subject = adapter.names.channel("1", "news")
        assert batches[:3] == [  # asked again, alone, a moment later each time
            sorted(["refused subject", news_subject]),
            ["refused subject"],
            ["refused subject"],
        ]
        assert not refused.is_set()
    finally:
        adapter.stop()
