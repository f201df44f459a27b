"""Builds the adapter, cache and queue drivers that the settings name."""

from __future__ import annotations

from socketrush.adapters.base import Adapter
from socketrush.adapters.local import LocalAdapter
from socketrush.cache.access import ActorCache, CacheAccess, CacheActor, DirectCache
from socketrush.cache.base import Cache
from socketrush.cache.local import LocalCache
from socketrush.config import ServerSettings
from socketrush.queues.base import Queue
from socketrush.queues.local import LocalQueue
from socketrush.supervision import counted_supervisor


def build_adapter(settings: ServerSettings) -> Adapter:
    if settings.adapter_driver == "redis":
        from socketrush.adapters.redis import RedisAdapter
        from socketrush.redis_client import RedisKeys, redis_from_settings

        return RedisAdapter(
            lambda: redis_from_settings(settings),
            RedisKeys(settings.redis_prefix).broadcast_channel(),
            counted_supervisor(),
        )
    return LocalAdapter()


def build_cache(settings: ServerSettings) -> Cache:
    if settings.cache_driver == "redis":
        from socketrush.cache.redis import RedisCache
        from socketrush.redis_client import RedisKeys, redis_from_settings

        return RedisCache(redis_from_settings(settings), RedisKeys(settings.redis_prefix))
    return LocalCache()


def build_cache_access(cache: Cache) -> CacheAccess:
    """Inline for the in-process cache; through a (not yet started) `CacheActor` for any
    cache that does network I/O, which app and channel actors must not wait for."""
    if isinstance(cache, LocalCache):
        return DirectCache(cache)
    return ActorCache(CacheActor(cache, counted_supervisor()))


def build_queue(settings: ServerSettings) -> Queue:
    """The webhook queue the settings name; its workers run a WebhookSender."""
    if settings.queue_driver == "redis":
        from socketrush.queues.redis import RedisQueue
        from socketrush.redis_client import RedisKeys, redis_from_settings

        return RedisQueue(
            redis_from_settings(settings),
            RedisKeys(settings.redis_prefix),
            workers=settings.queue_workers,
            lease=settings.queue_redis_lease_ms / 1000,
        )
    return LocalQueue(workers=settings.queue_workers)
