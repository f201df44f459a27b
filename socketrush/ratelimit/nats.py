"""NATS driver: every node counts into one shared window per app and kind, in JetStream.

Each window is one key-value entry, `<app>.<kind>.<second>`, changed by compare-and-set
(`nats_kv.change`), in a bucket of its own whose entries expire after WINDOW_TTL_SECONDS,
so old windows vanish without anyone deleting them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from socketrush import metrics, nats_kv
from socketrush.nats_bridge import NatsBridge
from socketrush.nats_client import NatsNames, escape
from socketrush.ratelimit.base import Kind, RateLimiter
from socketrush.ratelimit.redis import WINDOW_TTL_SECONDS

log = logging.getLogger(__name__)


class NatsRateLimiter(RateLimiter):
    """A fixed one-second window per app and kind, one compare-and-set per take (two round
    trips, more when nodes take from the same window at the same moment).

    As with Redis, the window is this node's wall-clock second, the call runs in the
    requesting view's greenlet, and a request NATS cannot count is allowed (fail open),
    counted in `RATE_LIMIT_UNCHECKED`, with one warning per outage."""

    def __init__(
        self,
        bridge: NatsBridge,
        names: NatsNames,
        request_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bucket = nats_kv.Bucket(
            bridge, f"{names.prefix}_rates", request_timeout, ttl=WINDOW_TTL_SECONDS
        )
        self._clock = clock
        self._failing = False

    def _take(self, app_id: str, kind: Kind, limit: int, count: int) -> bool:
        key = f"{escape(app_id)}.{kind}.{int(self._clock())}"

        def decide(used: Any) -> tuple[Any, bool]:
            used = used or 0
            if used + count > limit:
                return nats_kv.UNCHANGED, False
            return used + count, True

        try:
            allowed = self._bucket.run(lambda bucket: nats_kv.change(bucket, key, decide))
        except nats_kv.ERRORS as error:
            if not self._failing:
                log.warning("rate limiter: nats failed, allowing requests unchecked: %r", error)
                self._failing = True
            metrics.RATE_LIMIT_UNCHECKED.labels(app_id, kind).inc()
            return True
        if self._failing:
            log.info("rate limiter: nats answers again, limits apply")
            self._failing = False
        return allowed
