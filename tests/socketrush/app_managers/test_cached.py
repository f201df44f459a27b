from __future__ import annotations

import pytest

from socketrush.app_managers.base import AppManager, AppManagerError
from socketrush.app_managers.cached import CachedAppManager
from socketrush.settings import AppSettings

APP = AppSettings(id="1", key="key-one", secret="s")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording(AppManager):
    """An app store whose contents the test changes, recording every lookup it answers."""

    def __init__(self, *apps: AppSettings) -> None:
        self.apps = list(apps)
        self.calls: list[tuple[str, str]] = []
        self.failing = False
        self.closed = False

    def find_by_id(self, app_id: str) -> AppSettings | None:
        return self._find("id", app_id)

    def find_by_key(self, key: str) -> AppSettings | None:
        return self._find("key", key)

    def close(self) -> None:
        self.closed = True

    def _find(self, attribute: str, value: str) -> AppSettings | None:
        self.calls.append((attribute, value))
        if self.failing:
            raise AppManagerError("database down")
        return next((a for a in self.apps if getattr(a, attribute) == value), None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_found_app_is_served_from_the_cache_within_the_ttl(clock: FakeClock) -> None:
    inner = Recording(APP)
    cached = CachedAppManager(inner, 10, clock=clock)
    assert cached.find_by_key("key-one") == APP
    clock.now += 9.9
    assert cached.find_by_key("key-one") == APP
    assert inner.calls == [("key", "key-one")]
    assert (cached.hits, cached.misses) == (1, 1)


def test_a_lookup_by_key_also_caches_the_app_by_id(clock: FakeClock) -> None:
    inner = Recording(APP)
    cached = CachedAppManager(inner, 10, clock=clock)
    cached.find_by_key("key-one")
    assert cached.find_by_id("1") == APP
    assert inner.calls == [("key", "key-one")]
    assert (cached.hits, cached.misses) == (1, 1)


def test_misses_are_cached_so_a_flood_of_unknown_keys_costs_one_lookup(clock: FakeClock) -> None:
    inner = Recording()
    cached = CachedAppManager(inner, 10, clock=clock)
    for _ in range(100):
        assert cached.find_by_key("nope") is None
    assert inner.calls == [("key", "nope")]
    assert (cached.hits, cached.misses) == (99, 1)


def test_after_the_ttl_new_and_changed_apps_are_seen(clock: FakeClock) -> None:
    inner = Recording()
    cached = CachedAppManager(inner, 10, clock=clock)
    assert cached.find_by_id("1") is None
    inner.apps.append(APP)
    clock.now += 9.99
    assert cached.find_by_id("1") is None
    clock.now += 0.01
    assert cached.find_by_id("1") == APP
    inner.apps[0] = AppSettings(id="1", key="key-one", secret="s", enabled=False)
    clock.now += 10
    assert cached.find_by_id("1").enabled is False
    assert inner.calls == [("id", "1")] * 3
    assert (cached.hits, cached.misses) == (1, 3)


def test_errors_are_not_cached(clock: FakeClock) -> None:
    inner = Recording(APP)
    inner.failing = True
    cached = CachedAppManager(inner, 10, clock=clock)
    with pytest.raises(AppManagerError, match="^database down$"):
        cached.find_by_key("key-one")
    inner.failing = False
    assert cached.find_by_key("key-one") == APP
    assert inner.calls == [("key", "key-one")] * 2


def test_memory_stays_bounded_under_distinct_unknown_keys(clock: FakeClock) -> None:
    cached = CachedAppManager(Recording(), 10, clock=clock, max_entries=50)
    for number in range(1000):
        cached.find_by_key(f"unknown-{number}")
    assert cached.size == 50
    assert cached.misses == 1000


def test_expired_entries_are_dropped_on_insert(clock: FakeClock) -> None:
    cached = CachedAppManager(Recording(), 10, clock=clock)
    for number in range(20):
        cached.find_by_key(f"unknown-{number}")
    clock.now += 10
    cached.find_by_key("fresh")
    assert cached.size == 1


def test_close_closes_the_inner_manager(clock: FakeClock) -> None:
    inner = Recording()
    CachedAppManager(inner, 10, clock=clock).close()
    assert inner.closed is True
