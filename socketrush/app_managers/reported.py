"""An app store outage, reported once.

A database or DynamoDB that cannot answer fails every lookup that is not cached: under a
storm of reconnecting clients that is hundreds per second, and one ERROR line each would bury
the log. The first failure of an outage is logged with its error, the first answer after it
with how many lookups failed meanwhile; every failure is counted in
`socketrush_app_lookup_failures_total`. Callers answer a failure "try again later" (HTTP 503,
WebSocket 4100: see `Err.APP_MANAGER_UNAVAILABLE`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from socketrush import metrics
from socketrush.app_managers.base import AppManager, AppManagerError
from socketrush.settings import AppSettings

log = logging.getLogger(__name__)


class ReportedAppManager(AppManager):
    """`inner`'s answers, its failures counted and logged once per outage (see above)."""

    def __init__(self, inner: AppManager) -> None:
        self._inner = inner
        self._failures = 0  # lookups failed since the last answer: > 0 during an outage

    def find_by_id(self, app_id: str) -> AppSettings | None:
        return self._find(self._inner.find_by_id, app_id)

    def find_by_key(self, key: str) -> AppSettings | None:
        return self._find(self._inner.find_by_key, key)

    def close(self) -> None:
        self._inner.close()

    def _find(self, find: Callable[[str], AppSettings | None], value: str) -> AppSettings | None:
        try:
            answer = find(value)
        except AppManagerError as error:
            metrics.APP_LOOKUP_FAILURES.inc()
            if not self._failures:
                log.error(
                    'app manager lookup failed: %s; apps not cached are answered "try again '
                    'later" (HTTP 503, WebSocket 4100) until it answers again',
                    error,
                )
            self._failures += 1
            raise
        if self._failures:
            log.warning("app manager answers again, after %d failed lookups", self._failures)
            self._failures = 0
        return answer
