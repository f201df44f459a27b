"""Webhooks from a real server process to a real HTTP receiver on loopback.

One queue worker keeps requests in the order events happened, so tests can assert exact
sequences; a graceful server stop sends everything still queued, so counts taken after it are
final.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pusher
import pytest

from tests.support.client import PusherClient, subscribe_signed
from tests.support.redis import RedisServer, redis_server  # noqa: F401 (fixture)
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, free_port
from tests.support.webhook_receiver import HANG, Received, Receiver

ID_HEADER = "X-Socket-Rush-Webhook-Id"
SWITCHES = (
    "--app-has-channel-occupied-webhooks",
    "--app-has-channel-vacated-webhooks",
    "--app-has-member-added-webhooks",
    "--app-has-member-removed-webhooks",
    "--app-has-client-event-webhooks",
    "--app-has-cache-miss-webhooks",
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def flags(url: str, *extra: str, off: tuple[str, ...] = ()) -> list[str]:
    args = ["--app-webhooks-enabled", "true", "--app-webhook-url", url, "--queue-workers", "1"]
    args += ["--app-enable-client-messages", "true", "--app-subscription-count-enabled", "true"]
    args += ["--webhook-member-removed-delay-ms", "0"]
    for switch in SWITCHES:
        args += [switch, "false" if switch in off else "true"]
    return args + list(extra)


def validated(request: Received) -> list[dict]:
    """The events of one request, after the official SDK checked key, signature and time."""
    assert request.headers["Content-Type"] == "application/json"
    checker = pusher.Pusher(app_id=APP_ID, key=APP_KEY, secret=APP_SECRET)
    body = checker.validate_webhook(
        request.headers["X-Pusher-Key"], request.headers["X-Pusher-Signature"], request.body
    )
    assert body is not None, request
    return body["events"]


def names(requests: list[Received]) -> Counter:
    return Counter(e["name"] for r in requests for e in validated(r))


def subscribed(server, channel: str) -> PusherClient:
    client = PusherClient.connect(server)
    client.subscribe(channel)
    client.recv_event("pusher_internal:subscription_succeeded")
    return client


def test_every_event_type_is_sent_signed(receiver: Receiver, start_server) -> None:
    server = start_server(*flags(receiver.url))
    public = subscribed(server, "room")  # channel_occupied, subscription_count
    cache = subscribed(server, "cache-news")  # channel_occupied, cache_miss
    alice = PusherClient.connect(server)
    subscribe_signed(server, alice, "presence-lobby", {"user_id": "alice", "user_info": {}})
    alice.recv_event("pusher_internal:subscription_succeeded")
    alice.send("client-typing", {"on": True}, channel="presence-lobby")
    bob = PusherClient.connect(server)
    subscribe_signed(server, bob, "private-chat")
    bob.recv_event("pusher_internal:subscription_succeeded")
    bob.send("client-hi", "text", channel="private-chat")
    receiver.wait_for(11)  # the client events were relayed before anyone leaves
    for client in (alice, bob, public, cache):
        client.close()
    got = receiver.wait_for(16)
    assert all(r.status == 200 and len(validated(r)) == 1 for r in got)
    events = [validated(r)[0] for r in got]
    assert events[:5] == [
        {"name": "channel_occupied", "channel": "room"},
        {"name": "subscription_count", "channel": "room", "subscription_count": 1},
        {"name": "channel_occupied", "channel": "cache-news"},
        {"name": "cache_miss", "channel": "cache-news"},
        {"name": "subscription_count", "channel": "cache-news", "subscription_count": 1},
    ]
    assert events[5:8] == [
        {"name": "channel_occupied", "channel": "presence-lobby"},
        {"name": "member_added", "channel": "presence-lobby", "user_id": "alice"},
        {
            "name": "client_event",
            "channel": "presence-lobby",
            "event": "client-typing",
            "data": '{"on":true}',
            "socket_id": alice.socket_id,
            "user_id": "alice",
        },
    ]
    assert events[8:11] == [
        {"name": "channel_occupied", "channel": "private-chat"},
        {"name": "subscription_count", "channel": "private-chat", "subscription_count": 1},
        {
            "name": "client_event",
            "channel": "private-chat",
            "event": "client-hi",
            "data": "text",
            "socket_id": bob.socket_id,
        },
    ]
    # The disconnects race each other on the server; within one channel the order is fixed.
    tail = [(e["name"], e["channel"], e.get("user_id")) for e in events[11:]]
    assert sorted(tail) == [
        ("channel_vacated", "cache-news", None),
        ("channel_vacated", "presence-lobby", None),
        ("channel_vacated", "private-chat", None),
        ("channel_vacated", "room", None),
        ("member_removed", "presence-lobby", "alice"),
    ]
    assert tail.index(("member_removed", "presence-lobby", "alice")) < tail.index(
        ("channel_vacated", "presence-lobby", None)
    )


def scenario(server) -> None:
    """One of each event type (16 events with every switch on), then every client leaves."""
    clients = [subscribed(server, "room"), subscribed(server, "cache-news")]
    alice = PusherClient.connect(server)
    subscribe_signed(server, alice, "presence-lobby", {"user_id": "alice", "user_info": {}})
    alice.recv_event("pusher_internal:subscription_succeeded")
    alice.send("client-typing", {"on": True}, channel="presence-lobby")
    bob = PusherClient.connect(server)
    subscribe_signed(server, bob, "private-chat")
    bob.recv_event("pusher_internal:subscription_succeeded")
    bob.send("client-hi", "text", channel="private-chat")
    for client in (alice, bob, *clients):
        client.close()


ALL = Counter(
    channel_occupied=4,
    channel_vacated=4,
    subscription_count=3,
    member_added=1,
    member_removed=1,
    client_event=2,
    cache_miss=1,
)


@pytest.mark.parametrize(
    ("switch", "missing"),
    [
        ("--app-has-channel-occupied-webhooks", "channel_occupied"),
        ("--app-has-channel-vacated-webhooks", "channel_vacated"),
        ("--app-has-member-added-webhooks", "member_added"),
        ("--app-has-member-removed-webhooks", "member_removed"),
        ("--app-has-client-event-webhooks", "client_event"),
        ("--app-has-cache-miss-webhooks", "cache_miss"),
        ("--app-subscription-count-enabled", "subscription_count"),
        ("--app-webhooks-enabled", None),
    ],
)
def test_each_switch_off_stops_only_its_events(
    receiver: Receiver, start_server, switch: str, missing: str | None
) -> None:
    server = start_server(*flags(receiver.url), switch, "false")
    scenario(server)
    assert server.stop() == 0  # a graceful stop sends everything still queued
    expected = Counter() if missing is None else ALL - Counter({missing: ALL[missing]})
    assert names(receiver.received) == expected


def test_every_switch_on_sends_every_type(receiver: Receiver, start_server) -> None:
    server = start_server(*flags(receiver.url))
    scenario(server)
    assert server.stop() == 0
    assert names(receiver.received) == ALL


def test_json_webhooks_filter_by_type_and_channel_name(start_server, tmp_path: Path) -> None:
    with Receiver() as members, Receiver() as presence:
        config = tmp_path / "config.json"
        app = {
            "app_id": APP_ID,
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "app_webhooks": [
                {"url": members.url, "event_types": ["member_added", "member_removed"]},
                {"url": presence.url, "filter": {"channel_name_starts_with": "presence-"}},
            ],
        }
        config.write_text(json.dumps({"applications": [app]}))
        args = flags(members.url)
        args.remove("--app-webhook-url")
        args.remove(members.url)
        server = start_server(*args, "--config-file", str(config))
        scenario(server)
        assert server.stop() == 0
        assert names(members.received) == Counter(member_added=1, member_removed=1)
        assert names(presence.received) == Counter(
            channel_occupied=1, member_added=1, client_event=1, member_removed=1, channel_vacated=1
        )
        assert {e["channel"] for r in presence.received for e in validated(r)} == {"presence-lobby"}


def test_batching_sends_one_request_in_order(receiver: Receiver, start_server) -> None:
    server = start_server(
        *flags(receiver.url),
        "--app-subscription-count-enabled",
        "false",
        "--app-has-webhook-batching-enabled",
        "true",
        "--webhook-batch-window-ms",
        "500",
    )
    client = PusherClient.connect(server)
    for channel in ("a", "b", "c"):
        client.subscribe(channel)
    [request] = receiver.wait_for(1)
    assert [(e["name"], e["channel"]) for e in validated(request)] == [
        ("channel_occupied", "a"),
        ("channel_occupied", "b"),
        ("channel_occupied", "c"),
    ]
    client.close()


def test_failing_receiver_gets_every_event_once_after_recovery(start_server) -> None:
    """Refused, then 500, a timeout and 503: each event arrives exactly once with a 2xx; the
    request that timed out was (as far as the sender knows) maybe seen, so its retry carries
    the same id for the receiver to dedupe."""
    # A bound, never-listening socket refuses connections and keeps the kernel from giving
    # the sender's own socket this port (a self-connect that would fake a receiver).
    reserved = socket.socket()
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserved.bind(("127.0.0.1", 0))
    receiver = Receiver([500, HANG, 503], port=reserved.getsockname()[1])
    server = start_server(
        *flags(receiver.url),
        "--app-subscription-count-enabled",
        "false",
        "--webhook-timeout-ms",
        "300",
        "--webhook-retry-base-ms",
        "50",
        "--webhook-retry-max-ms",
        "200",
    )
    client = PusherClient.connect(server)
    for channel in ("a", "b", "c"):
        client.subscribe(channel)
        client.recv_event("pusher_internal:subscription_succeeded")
    reserved.close()
    with receiver:  # connections were refused until now
        got = receiver.wait_for(6)
        assert [r.status for r in got] == [500, 0, 503, 200, 200, 200]
        delivered = receiver.delivered()
        assert [validated(r)[0]["channel"] for r in delivered] == ["a", "b", "c"]
        assert len({r.headers[ID_HEADER] for r in delivered}) == 3
        assert {r.headers[ID_HEADER] for r in got[:4]} == {delivered[0].headers[ID_HEADER]}
        client.close()
        assert server.stop() == 0
        assert len(receiver.received) == 9  # three channel_vacated, sent without a hitch
        assert [validated(r)[0]["name"] for r in receiver.delivered()[3:]] == [
            "channel_vacated"
        ] * 3


def test_quick_reconnect_is_suppressed_and_shutdown_sends_held_removals(
    receiver: Receiver, start_server
) -> None:
    args = flags(receiver.url, "--app-subscription-count-enabled", "false")
    args[args.index("--webhook-member-removed-delay-ms") + 1] = "60000"
    server = start_server(*args)

    def join(user: str) -> PusherClient:
        client = PusherClient.connect(server)
        subscribe_signed(server, client, "presence-lobby", {"user_id": user})
        client.recv_event("pusher_internal:subscription_succeeded")
        return client

    bob = join("bob")
    alice = join("alice")
    alice.close()
    bob.recv_event("pusher_internal:member_removed")
    alice = join("alice")  # back within the delay: neither removed nor added is sent
    receiver.wait_for(3)
    assert server.stop() == 0  # held member_removed webhooks are sent, not dropped
    events = [(e["name"], e.get("user_id")) for r in receiver.received for e in validated(r)]
    assert events[:3] == [
        ("channel_occupied", None),
        ("member_added", "bob"),
        ("member_added", "alice"),
    ]
    assert sorted(events[3:], key=str) == sorted(
        [("channel_vacated", None), ("member_removed", "alice"), ("member_removed", "bob")],
        key=str,
    )


def test_redis_queue_delivers_webhooks(
    receiver: Receiver,
    redis_server: RedisServer,  # noqa: F811
    start_server,
) -> None:
    server = start_server(
        *flags(receiver.url),
        "--queue-driver",
        "redis",
        "--redis-url",
        redis_server.url,
        "--redis-prefix",
        f"e2e{free_port()}",
    )
    client = subscribed(server, "room")
    got = receiver.wait_for(2)
    assert [validated(r)[0]["name"] for r in got] == ["channel_occupied", "subscription_count"]
    client.close()
