"""Cache channels reach the cache without blocking app or channel actors: inline for the local
cache, through one CacheActor per node for Redis, whose answers keep each node's order."""

from __future__ import annotations

from dataclasses import dataclass, field

from socketrush.cache.access import (
    ActorCache,
    CacheActor,
    CachedEvent,
    DirectCache,
    cache_entry,
    cache_key,
    read_entry,
)
from socketrush.cache.local import LocalCache
from socketrush.drivers import build_cache_access
from tests.support.client import PusherClient, sdk
from tests.support.polling import wait_until
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess


@dataclass
class Inbox:
    messages: list[object] = field(default_factory=list)

    def tell(self, message: object) -> bool:
        self.messages.append(message)
        return True


def test_local_cache_answers_inline() -> None:
    access = build_cache_access(LocalCache())
    assert isinstance(access, DirectCache)
    inbox = Inbox()
    access.store("k", b"v1", 60)
    assert access.fetch("k", inbox, "token") == CachedEvent("token", b"v1")
    assert access.fetch("other", inbox, "token") == CachedEvent("token", None)
    assert inbox.messages == []


def test_actor_cache_answers_by_message_in_order() -> None:
    actor = CacheActor(LocalCache()).start()
    access = ActorCache(actor)
    inbox = Inbox()
    assert access.fetch("k", inbox, 1) is None
    access.store("k", b"v1", 60)
    assert access.fetch("k", inbox, 2) is None
    actor.stop(drain=True)
    assert actor.join(5)
    assert inbox.messages == [CachedEvent(1, None), CachedEvent(2, b"v1")]


def test_an_entry_keeps_the_events_id_ahead_of_its_json() -> None:
    """The id lets a channel that sent the cached event know it when it arrives live; an
    entry written without one (before ids) is JSON alone."""
    entry = cache_entry("0123abcd", b'{"event":"e"}')
    assert entry == b'0123abcd\n{"event":"e"}'
    assert read_entry(entry) == ("0123abcd", b'{"event":"e"}')
    assert read_entry(b'{"event":"e"}') == (None, b'{"event":"e"}')
    assert read_entry(cache_entry(None, b'{"event":"e"}')) == (None, b'{"event":"e"}')
    assert read_entry(None) == (None, None)
    access = DirectCache(LocalCache())
    access.store("k", entry, 60)
    assert access.fetch("k", Inbox(), "token") == CachedEvent("token", b'{"event":"e"}', "0123abcd")


def test_cache_key_is_the_one_the_http_api_reads() -> None:
    assert cache_key("42", "cache-prices") == "cache-channel:42:cache-prices"


def await_key(redis_server: RedisServer, key: str, timeout: float = 5.0) -> None:
    """The publisher's cache actor writes after the trigger was answered, and the reader has
    no way to wait for another node's write: poll Redis."""
    client = redis_server.client()
    wait_until(lambda: client.exists(key), timeout, lambda: f"{key} never written")
    client.close()


def test_redis_cache_channel_across_nodes(redis_server: RedisServer) -> None:
    flags = ["--cache-driver", "redis", "--redis-url", redis_server.url]
    with ServerProcess(args=flags) as publisher, ServerProcess(args=flags) as reader:
        assert sdk(publisher).trigger("cache-prices", "tick", {"n": 1}) == {}
        await_key(redis_server, "pusher:cache:cache-channel:424242:cache-prices")
        client = PusherClient.connect(reader)
        client.subscribe("cache-prices")
        assert client.recv()["event"] == "pusher_internal:subscription_succeeded"
        assert client.recv() == {"event": "tick", "channel": "cache-prices", "data": {"n": 1}}
        client.subscribe("cache-empty")
        assert client.recv()["event"] == "pusher_internal:subscription_succeeded"
        assert client.recv() == {"event": "pusher:cache_miss", "channel": "cache-empty", "data": {}}
        client.close()
        stored = redis_server.client().get("pusher:cache:cache-channel:424242:cache-prices")
        event_id, payload = read_entry(stored)
        assert payload == b'{"event":"tick","channel":"cache-prices","data":"{\\"n\\": 1}"}'
        assert event_id is not None and len(event_id) == 16  # the event's, on every node
