"""Redis driver: every node counts into one shared window per app and kind (cluster-wide)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from socketrush import metrics
from socketrush.ratelimit.base import Kind, RateLimiter
from socketrush.redis_client import RedisClient, RedisKeys

log = logging.getLogger(__name__)

# A window's key outlives its second by this much, so a node whose clock lags the others by
# up to two seconds still counts into the same key; after that Redis drops it on its own.
WINDOW_TTL_SECONDS = 3

# KEYS: the window's counter.  ARGV: units wanted, limit, key TTL (s).
# Returns 1 and counts the units when they fit, else 0 and counts nothing (a refused request
# uses no quota, as in the local driver).
TAKE = """
local wanted = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') + wanted > tonumber(ARGV[2]) then return 0 end
if redis.call('INCRBY', KEYS[1], wanted) == wanted then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 1
"""


class RedisRateLimiter(RateLimiter):
    """A fixed one-second window per app and kind, one script call (one round trip) per take.

    The window is the integer second of this node's wall clock, which NTP keeps within
    milliseconds of the other nodes'; the key carries the app's hash tag, so on Redis Cluster
    every node's count for an app lands on the same shard. The call runs in the requesting
    view's greenlet: the request waits for its own answer and no actor ever blocks on Redis.

    If Redis fails the request is allowed (fail open): an outage must not take the HTTP API
    down with it. Each such request is counted in `RATE_LIMIT_UNCHECKED`; the log gets one warning when
    an outage starts and one notice when Redis answers again.
    """

    def __init__(
        self, client: RedisClient, keys: RedisKeys, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._script = client.register_script(TAKE)
        self._failing = False

    def _take(self, app_id: str, kind: Kind, limit: int, count: int) -> bool:
        key = self._keys.app(app_id, "rate", kind, str(int(self._clock())))
        try:
            allowed = self._script(keys=[key], args=[count, limit, WINDOW_TTL_SECONDS])
        except redis.RedisError as error:
            if not self._failing:
                log.warning("rate limiter: redis failed, allowing requests unchecked: %s", error)
                self._failing = True
            metrics.RATE_LIMIT_UNCHECKED.labels(app_id, kind).inc()
            return True
        if self._failing:
            log.info("rate limiter: redis answers again, limits apply")
            self._failing = False
        return allowed == 1
