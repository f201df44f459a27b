"""Redis cache: cache-channel events shared by every node of a deployment."""

from __future__ import annotations

import logging
import math

import redis

from socketrush.cache.base import Cache
from socketrush.redis_client import RedisClient, RedisKeys

log = logging.getLogger(__name__)


class RedisCache(Cache):
    """Each entry is one Redis string with a PX expiry, so Redis expires it and every node
    reads the same value and the same remaining time.

    `client` must return bytes (`decode_responses=False`). A Redis outage degrades the cache
    instead of failing the caller: reads miss and writes are dropped, with one warning when
    the failures start and one notice when Redis answers again. A cache miss is an answer the
    protocol already has (`pusher:cache_miss`); an exception in the app actor is not.
    """

    def __init__(self, client: RedisClient, keys: RedisKeys) -> None:
        self._client = client
        self._keys = keys
        self._failing = False

    def get(self, key: str) -> bytes | None:
        try:
            value = self._client.get(self._keys.cache(key))
        except redis.RedisError as error:
            self._failed("get", error)
            return None
        self._answered()
        return value

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        name = self._keys.cache(key)
        try:
            if ttl_seconds <= 0:  # already expired: Redis rejects PX 0, and the value is gone
                self._client.delete(name)
            else:
                self._client.set(name, value, px=max(1, round(ttl_seconds * 1000)))
        except redis.RedisError as error:
            self._failed("set", error)
            return
        self._answered()

    def ttl(self, key: str) -> float | None:
        try:
            remaining_ms = self._client.pttl(self._keys.cache(key))
        except redis.RedisError as error:
            self._failed("ttl", error)
            return None
        self._answered()
        if remaining_ms == -2:  # no such key
            return None
        if remaining_ms == -1:  # set without an expiry by something other than this cache
            return math.inf
        return remaining_ms / 1000

    def delete(self, key: str) -> None:
        try:
            self._client.delete(self._keys.cache(key))
        except redis.RedisError as error:
            self._failed("delete", error)
            return
        self._answered()

    def _failed(self, operation: str, error: redis.RedisError) -> None:
        if not self._failing:
            log.warning(
                "redis cache %s failed, serving misses until Redis answers: %s", operation, error
            )
        self._failing = True

    def _answered(self) -> None:
        if self._failing:
            log.info("redis cache reached Redis again")
        self._failing = False
