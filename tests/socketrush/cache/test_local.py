"""LocalCache: expiry follows the monotonic clock, which these tests drive by hand."""

from __future__ import annotations

import pytest

from socketrush.cache import local
from socketrush.cache.local import LocalCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(local.time, "monotonic", fake)
    return fake


def test_set_then_get_and_ttl(clock: FakeClock) -> None:
    cache = LocalCache()
    cache.set("k", b"value", 30)
    clock.now += 10
    assert cache.get("k") == b"value"
    assert cache.ttl("k") == 20


def test_missing_key() -> None:
    cache = LocalCache()
    assert cache.get("absent") is None
    assert cache.ttl("absent") is None


def test_entry_expires_at_its_ttl(clock: FakeClock) -> None:
    cache = LocalCache()
    cache.set("k", b"value", 5)
    clock.now += 4.999
    assert cache.get("k") == b"value"
    clock.now += 0.001
    assert cache.get("k") is None
    assert cache.ttl("k") is None


def test_set_overwrites_value_and_ttl(clock: FakeClock) -> None:
    cache = LocalCache()
    cache.set("k", b"old", 5)
    cache.set("k", b"new", 60)
    clock.now += 30
    assert cache.get("k") == b"new"
    assert cache.ttl("k") == 30


def test_delete_removes_and_ignores_absent_keys() -> None:
    cache = LocalCache()
    cache.set("k", b"value", 30)
    cache.delete("k")
    cache.delete("never-set")
    assert cache.get("k") is None


def test_purge_expired_drops_only_expired_entries(clock: FakeClock) -> None:
    cache = LocalCache()
    cache.set("short", b"1", 1)
    cache.set("long", b"2", 100)
    clock.now += 2
    assert cache.purge_expired() == 1
    assert cache.get("long") == b"2"
    assert cache.purge_expired() == 0


def test_set_purges_expired_entries_once_the_cache_is_large(clock: FakeClock) -> None:
    cache = LocalCache()
    for number in range(10_001):
        cache.set(f"old-{number}", b"x", 1)
    clock.now += 2
    cache.set("fresh", b"y", 10)
    assert cache.purge_expired() == 0  # the set above already dropped all 10,001
    assert cache.get("fresh") == b"y"
