"""The HTTP API's per-app rate limits, behind one small interface with two drivers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

from socketrush.settings import AppSettings

Kind = Literal["backend_events", "read_requests"]


def limit_of(app: AppSettings, kind: Kind) -> int:
    """The app's limit per second for `kind`; 0 means unlimited."""
    if kind == "backend_events":
        return app.max_backend_events_per_second
    return app.max_read_requests_per_second


class RateLimiter(ABC):
    """May `count` more units of `kind` happen for this app in the current second?

    Called from the HTTP view's own greenlet: the limit is read from the settings on every
    call, so an app manager's new settings apply at once, and an unlimited app costs nothing.
    """

    def take(self, app: AppSettings, kind: Kind, count: int = 1) -> bool:
        limit = limit_of(app, kind)
        return not limit or self._take(app.id, kind, limit, count)

    @abstractmethod
    def _take(self, app_id: str, kind: Kind, limit: int, count: int) -> bool:
        """Count `count` units in the current window if they fit under `limit`."""
