"""How app and channel actors reach the cache of cache channels without blocking.

A local cache is a dict: reading it inline is as cheap as a message, so `DirectCache` answers
at once. A Redis cache is a network round trip, which architecture rule 5 keeps out of app and
channel actors: `ActorCache` hands each read and write to one `CacheActor` per node, and the
channel gets its answer later as a `CachedEvent` message. The actor's mailbox keeps each
node's writes and reads in order, so a subscriber never misses an event published before it
asked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from actors import Actor, Supervisor
from socketrush.cache.base import Cache

CACHE_TTL_SECONDS = 30 * 60  # Pusher keeps a cache channel's last event for 30 minutes


def cache_key(app_id: str, channel: str) -> str:
    """Where a cache channel's last event is kept (the HTTP API reads the same key)."""
    return f"cache-channel:{app_id}:{channel}"


def new_event_id() -> str:
    """An API event's id on a cache channel. It travels with the event to every node and is
    kept with it in the cache, so a channel that sent a subscriber the cached event knows
    that event when it arrives live (see `ChannelActor._send_cached`)."""
    return secrets.token_hex(8)


def cache_entry(event_id: str | None, payload: bytes) -> bytes:
    """What the cache keeps for one event: its id, a newline, then its JSON."""
    return payload if event_id is None else b"%s\n%s" % (event_id.encode(), payload)


def read_entry(entry: bytes | None) -> tuple[str | None, bytes | None]:
    """(event id, JSON) of a `cache_entry`. An entry without an id (JSON alone, as written
    before ids) reads as (None, entry)."""
    if entry is None or entry.startswith(b"{"):
        return None, entry
    event_id, newline, payload = entry.partition(b"\n")
    if not newline:
        return None, entry
    return event_id.decode(errors="replace"), payload


class ReplyTo(Protocol):
    def tell(self, message: object) -> bool: ...


@dataclass(frozen=True, slots=True)
class CachedEvent:
    """The answer to a fetch: the cached event JSON, or None for a miss."""

    token: object  # handed back untouched (the subscriber that asked)
    payload: bytes | None
    event_id: str | None = None


def cached_event(token: object, entry: bytes | None) -> CachedEvent:
    event_id, payload = read_entry(entry)
    return CachedEvent(token, payload, event_id)


@dataclass(frozen=True, slots=True)
class Store:
    key: str
    payload: bytes
    ttl_seconds: float


@dataclass(frozen=True, slots=True)
class Fetch:
    key: str
    reply_to: ReplyTo
    token: object


class CacheAccess(Protocol):
    def store(self, key: str, payload: bytes, ttl_seconds: float) -> None:
        """Never waits."""

    def fetch(self, key: str, reply_to: ReplyTo, token: object) -> CachedEvent | None:
        """The answer now, or None when it will reach `reply_to` as a `CachedEvent`."""


class DirectCache:
    """Inline access to an in-process cache."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    def store(self, key: str, payload: bytes, ttl_seconds: float) -> None:
        self._cache.set(key, payload, ttl_seconds)

    def fetch(self, key: str, reply_to: ReplyTo, token: object) -> CachedEvent | None:
        return cached_event(token, self._cache.get(key))


class CacheActor(Actor):
    """The one actor per node that does cache I/O. Its Redis driver degrades on its own (a
    failed read is a miss, a failed write is dropped), so nothing here can crash on Redis."""

    def __init__(self, cache: Cache, supervisor: Supervisor | None = None) -> None:
        super().__init__(name="cache", supervisor=supervisor)
        self._cache = cache

    def receive(self, message: object) -> object:
        if isinstance(message, Store):
            self._cache.set(message.key, message.payload, message.ttl_seconds)
        elif isinstance(message, Fetch):
            message.reply_to.tell(cached_event(message.token, self._cache.get(message.key)))
        else:
            raise TypeError(f"unexpected message {type(message).__name__}")
        return None


class ActorCache:
    """Access through a `CacheActor`: every call is a tell."""

    def __init__(self, actor: CacheActor) -> None:
        self.actor = actor

    def store(self, key: str, payload: bytes, ttl_seconds: float) -> None:
        self.actor.tell(Store(key, payload, ttl_seconds))

    def fetch(self, key: str, reply_to: ReplyTo, token: object) -> CachedEvent | None:
        self.actor.tell(Fetch(key, reply_to, token))
        return None
