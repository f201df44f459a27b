"""Builds the adapter, cache and queue drivers that the settings name."""

from __future__ import annotations

from socketrush.adapters.base import Adapter
from socketrush.adapters.local import LocalAdapter
from socketrush.cache.access import ActorCache, CacheAccess, CacheActor, DirectCache
from socketrush.cache.base import Cache
from socketrush.cache.local import LocalCache
from socketrush.cluster.store import ClusterStore
from socketrush.config import ConfigError
from socketrush.queues.base import Queue
from socketrush.queues.local import LocalQueue
from socketrush.settings import ServerSettings
from socketrush.supervision import counted_supervisor


def build_adapter(settings: ServerSettings) -> Adapter:
    if settings.adapter_driver == "redis":
        from socketrush.adapters.redis import RedisAdapter
        from socketrush.redis_client import RedisKeys, redis_from_settings

        return RedisAdapter(
            lambda: redis_from_settings(settings),
            RedisKeys(settings.redis_prefix),
            counted_supervisor(),
        )
    if settings.adapter_driver == "nats":
        from socketrush.adapters.nats import NatsAdapter
        from socketrush.nats_client import NatsNames, nats_options

        return NatsAdapter(nats_options(settings), NatsNames(settings.adapter_nats_prefix))
    return LocalAdapter()


def build_cluster_store(settings: ServerSettings, adapter: Adapter) -> ClusterStore | None:
    """Where the nodes of a deployment keep their shared state: in the Redis or NATS they
    already share; none with the local adapter (a single node keeps it in its actors)."""
    if settings.adapter_driver == "redis":
        from socketrush.cluster.redis_store import RedisStore
        from socketrush.redis_client import RedisKeys, redis_from_settings

        return RedisStore(
            redis_from_settings(settings, decode_responses=True),
            RedisKeys(settings.redis_prefix),
        )
    if settings.adapter_driver == "nats":
        from socketrush.adapters.nats import NatsAdapter
        from socketrush.cluster.nats_store import NatsStore

        assert isinstance(adapter, NatsAdapter)
        timeout = settings.adapter_nats_requests_timeout / 1000
        return NatsStore(adapter.bridge, adapter.names, timeout)
    return None


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
    if settings.queue_driver == "sqs":
        return _sqs_queue(settings)
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


def _sqs_queue(settings: ServerSettings) -> Queue:
    """Checked here rather than by the loader: these settings matter only to this driver."""
    url, visibility = settings.queue_sqs_url, settings.queue_sqs_visibility_timeout_seconds
    if not url:
        raise ConfigError(
            "queue_driver sqs needs queue_sqs_url: give it with the flag --queue-sqs-url, the "
            "environment variable QUEUE_SQS_URL (or the .env file), or server.queue_sqs_url in "
            "a --config-file JSON"
        )
    if visibility * 1000 <= settings.webhook_timeout_ms:
        raise ConfigError(
            f"queue_sqs_visibility_timeout_seconds ({visibility}) must be longer than "
            f"webhook_timeout_ms ({settings.webhook_timeout_ms} ms), or another node would "
            "send a webhook again while it is still being sent"
        )
    from socketrush.aws_client import (
        Endpoint,
        Timeouts,
        make_client,
        region_of_sqs_url,
        require_boto3,
    )

    require_boto3("queue_driver sqs")
    from socketrush.queues.sqs import RECEIVE_WAIT_SECONDS, SqsQueue  # imports botocore

    endpoint = Endpoint(
        "sqs",
        settings.queue_sqs_region or region_of_sqs_url(url),
        settings.queue_sqs_endpoint,
        "queue_sqs",
    )
    # A receive waits up to RECEIVE_WAIT_SECONDS for jobs before SQS answers.
    reads = Timeouts(read=RECEIVE_WAIT_SECONDS + 5.0, pool=settings.queue_workers + 2)
    return SqsQueue(
        make_client(endpoint, reads),
        url,
        workers=settings.queue_workers,
        batch_size=settings.queue_sqs_batch_size,
        pause=settings.queue_sqs_polling_wait_time_ms / 1000,
        visibility_timeout=visibility,
    )
