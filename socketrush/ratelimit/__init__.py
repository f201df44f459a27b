"""Rate limits: the fixed-window counter sockets use for client events, and the HTTP API's
per-app limiters (local, Redis or NATS, see `build_rate_limiter`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from socketrush.ratelimit.base import Kind, RateLimiter
from socketrush.ratelimit.local import LocalRateLimiter
from socketrush.ratelimit.window import PerSecondLimiter
from socketrush.settings import ServerSettings

if TYPE_CHECKING:
    from socketrush.nats_bridge import NatsBridge
    from socketrush.redis_client import RedisClient

__all__ = ["Kind", "PerSecondLimiter", "RateLimiter", "build_rate_limiter"]


def build_rate_limiter(
    settings: ServerSettings,
    redis_client: RedisClient | None,
    nats_bridge: NatsBridge | None = None,
) -> RateLimiter:
    """The limiter for the HTTP API's per-app limits.

    With the Redis or NATS adapter, nodes serve one deployment together, so its limits are
    counted across all of them there (`redis_client` or the adapter's `nats_bridge` is then
    required); otherwise in this process.
    """
    if settings.adapter_driver == "nats":
        if nats_bridge is None:
            raise ValueError("the nats adapter's rate limiter needs the adapter's connection")
        from socketrush.nats_client import NatsNames
        from socketrush.ratelimit.nats import NatsRateLimiter

        timeout = settings.adapter_nats_requests_timeout / 1000
        return NatsRateLimiter(nats_bridge, NatsNames(settings.adapter_nats_prefix), timeout)
    if settings.adapter_driver != "redis":
        return LocalRateLimiter()
    if redis_client is None:
        raise ValueError("the redis adapter's rate limiter needs a redis client")
    from socketrush.ratelimit.redis import RedisRateLimiter
    from socketrush.redis_client import RedisKeys

    return RedisRateLimiter(redis_client, RedisKeys(settings.redis_prefix))
