"""An app store outage is logged once: its first failure and its end, and counted."""

from __future__ import annotations

import logging

import pytest

from socketrush import metrics
from socketrush.app_managers.base import AppManager, AppManagerError
from socketrush.app_managers.cached import CachedAppManager
from socketrush.app_managers.reported import ReportedAppManager
from socketrush.settings import AppSettings

APP = AppSettings(id="1", key="key-one", secret="s")
FAILED = (
    'app manager lookup failed: store down; apps not cached are answered "try again later" '
    "(HTTP 503, WebSocket 4100) until it answers again"
)


class Store(AppManager):
    """Serves APP, or fails every lookup while `failing`."""

    def __init__(self) -> None:
        self.failing = False
        self.closed = False

    def find_by_id(self, app_id: str) -> AppSettings | None:
        return self._find(app_id == APP.id)

    def find_by_key(self, key: str) -> AppSettings | None:
        return self._find(key == APP.key)

    def close(self) -> None:
        self.closed = True

    def _find(self, found: bool) -> AppSettings | None:
        if self.failing:
            raise AppManagerError("store down")
        return APP if found else None


def failures() -> float:
    return metrics.APP_LOOKUP_FAILURES._value.get()


def test_an_outage_is_logged_once_counted_per_lookup_and_its_end_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Store()
    manager = ReportedAppManager(store)
    caplog.set_level(logging.INFO, logger="socketrush.app_managers.reported")
    assert manager.find_by_key("key-one") == APP
    before = failures()
    store.failing = True
    for lookup in (manager.find_by_key, manager.find_by_id, manager.find_by_key):
        with pytest.raises(AppManagerError, match="store down"):
            lookup("key-one")
    assert failures() == before + 3
    store.failing = False
    assert manager.find_by_id("1") == APP
    assert manager.find_by_id("2") is None
    store.failing = True
    with pytest.raises(AppManagerError):
        manager.find_by_id("1")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", FAILED),
        ("WARNING", "app manager answers again, after 3 failed lookups"),
        ("ERROR", FAILED),  # a new outage
    ]


def test_a_cache_hit_during_an_outage_does_not_end_it(caplog: pytest.LogCaptureFixture) -> None:
    """As built (app_managers/__init__.py): the cache in front answers what it holds, which
    says nothing of the store, so one outage is still one ERROR line."""
    store = Store()
    manager = CachedAppManager(ReportedAppManager(store), ttl_seconds=3600)
    caplog.set_level(logging.INFO, logger="socketrush.app_managers.reported")
    assert manager.find_by_key("key-one") == APP  # now cached
    store.failing = True
    with pytest.raises(AppManagerError):
        manager.find_by_key("unknown")
    assert manager.find_by_key("key-one") == APP  # a cache hit
    with pytest.raises(AppManagerError):
        manager.find_by_id("2")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("ERROR", FAILED)]


def test_close_reaches_the_store() -> None:
    store = Store()
    ReportedAppManager(store).close()
    assert store.closed
