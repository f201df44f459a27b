"""A cache channel's event reaches a new subscriber once: as the cached event on subscribe or
live, never both.

With other nodes, an API event is written to the cache as soon as the bus took it, and every
node (the publishing one too) delivers it when the bus brings it back. A socket that
subscribes in between would read it from the cache and then get it live. The windows are held
open here with a proxy that holds back what the bus sends one node (`HoldingProxy`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from socketrush.cache.access import cache_key
from socketrush.redis_client import RedisKeys
from tests.support.bus import Bus
from tests.support.client import PusherClient, sdk
from tests.support.holding import HoldingProxy
from tests.support.nodes import start_nodes
from tests.support.polling import wait_until
from tests.support.redis import RedisServer
from tests.support.server import APP_ID, ServerProcess

pytestmark = pytest.mark.timeout(120)

CHANNEL = "cache-prices"
SUCCEEDED = {"event": "pusher_internal:subscription_succeeded", "channel": CHANNEL, "data": {}}
MISS = {"event": "pusher:cache_miss", "channel": CHANNEL, "data": {}}


def tick(number: int) -> dict:
    return {"event": "tick", "channel": CHANNEL, "data": {"n": number}}


def subscriber(node: ServerProcess) -> PusherClient:
    client = PusherClient.connect(node)
    client.subscribe(CHANNEL)
    assert client.recv() == SUCCEEDED
    return client


def pubsub_links(redis: RedisServer, proxy: HoldingProxy) -> list:
    """The proxy's connections that Redis lists as pub/sub ones."""
    ports = {link.port for link in proxy.links}
    found = []
    for client in redis.client().client_list():
        port = int(client["addr"].rsplit(":", 1)[1])
        if "P" in client["flags"] and port in ports:
            found.append(proxy.link(port))
    return found


def behind(proxy: HoldingProxy, server_port: int, args: list[str]) -> list[str]:
    """`args` with the bus reached through `proxy` instead of directly."""
    return [a.replace(f":{server_port}", f":{proxy.port}") for a in args]


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def stopped_after(stack: ExitStack, nodes: list[ServerProcess]) -> list[ServerProcess]:
    for node in nodes:
        stack.callback(node.stop)
    return nodes


def closed_after(stack: ExitStack, client: PusherClient) -> PusherClient:
    stack.callback(client.close)
    return client


@pytest.mark.parametrize("cache_driver", ["local", "redis"])
def test_a_subscriber_before_the_publishing_nodes_own_delivery_gets_the_event_once(
    redis_server: RedisServer, stack: ExitStack, cache_driver: str
) -> None:
    """Redis: the node stores the event once PUBLISH is answered, and delivers it when its
    subscription brings it back; a socket subscribing in between gets it from the cache only.
    (NATS has no such window on the publishing node: its own message comes back on the one
    connection before the flush that acknowledges the trigger.)"""
    proxy = stack.enter_context(HoldingProxy(redis_server.port))
    adapter = ["--adapter-driver", "redis", "--redis-url", redis_server.url]
    args = behind(proxy, redis_server.port, [*adapter, "--cache-driver", cache_driver])
    (node,) = stopped_after(stack, start_nodes(args, 1))
    first = closed_after(stack, subscriber(node))
    assert first.recv() == MISS
    (subscription,) = pubsub_links(redis_server, proxy)

    subscription.hold()
    assert sdk(node).trigger(CHANNEL, "tick", {"n": 1}) == {}
    late = closed_after(stack, subscriber(node))
    assert late.recv() == tick(1)  # from the cache: the node has not delivered it yet
    subscription.release()
    assert first.recv() == tick(1)  # live

    assert sdk(node).trigger(CHANNEL, "tick", {"n": 2}) == {}
    assert first.recv() == tick(2)
    assert late.recv() == tick(2)  # not tick 1 a second time
    late.assert_silent()
    first.assert_silent()


def test_a_subscriber_on_another_node_before_its_delivery_gets_the_event_once(
    bus: Bus, nodes_on, redis_server: RedisServer, stack: ExitStack
) -> None:
    """A shared (Redis) cache: the publishing node writes it before the other nodes have the
    event; a socket subscribing on one of them in between gets it from the cache only."""
    cache = ["--cache-driver", "redis"]
    if bus.kind == "nats":  # the cache lives in a Redis of its own
        cache += ["--redis-url", redis_server.url, "--redis-prefix", nodes_on.prefix]
        redis = redis_server
    else:
        redis = bus.server
    (publisher,) = nodes_on(bus, 1, *cache)
    proxy = stack.enter_context(HoldingProxy(bus.server.port))
    far = behind(proxy, bus.server.port, [*bus.node_args(nodes_on.prefix), *cache])
    (node,) = stopped_after(stack, start_nodes(far, 1))
    first = closed_after(stack, subscriber(node))
    assert first.recv() == MISS
    # Redis: the node's subscription; NATS: its one connection (nothing else is asked of it).
    links = pubsub_links(redis, proxy) if bus.kind == "redis" else proxy.links
    assert len(links) == 1

    links[0].hold()
    assert sdk(publisher).trigger(CHANNEL, "tick", {"n": 1}) == {}
    key = RedisKeys(nodes_on.prefix).cache(cache_key(APP_ID, CHANNEL))
    client = redis.client()
    # The publisher's cache actor writes after the trigger is answered, in another process:
    # nothing to await but the key itself.
    wait_until(lambda: client.exists(key) == 1, 10, lambda: f"{key} never written")
    late = closed_after(stack, subscriber(node))
    assert late.recv() == tick(1)  # from the cache: this node has not delivered it yet
    links[0].release()
    assert first.recv() == tick(1)  # live

    assert sdk(publisher).trigger(CHANNEL, "tick", {"n": 2}) == {}
    assert first.recv() == tick(2)
    assert late.recv() == tick(2)  # not tick 1 a second time
    late.assert_silent()
    first.assert_silent()
