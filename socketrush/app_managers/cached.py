"""A TTL cache in front of a slow app manager (a database).

Both answers are cached, "found" and "not found": a flood of connections with unknown keys must
cost the database one query per key per TTL, not one per connection. Entries expire, so apps
added, changed or disabled in the database take effect within `ttl_seconds` without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from socketrush.app_managers.base import AppManager
from socketrush.settings import AppSettings

DEFAULT_MAX_ENTRIES = 10_000
_ABSENT = object()  # "not cached", as opposed to a cached None ("no such app")


class _TtlMap:
    """Lookup key -> (expiry, answer), bounded in size.

    Every entry lives exactly the same TTL, so insertion order is expiry order: expired entries
    are dropped from the front on each insert, and when full the oldest goes first. Memory stays
    bounded however many distinct unknown keys are tried.
    """

    def __init__(self, max_entries: int) -> None:
        self._entries: dict[str, tuple[float, AppSettings | None]] = {}
        self._max_entries = max_entries

    def get(self, lookup: str, now: float) -> object:
        entry = self._entries.get(lookup)
        if entry is None or entry[0] <= now:
            return _ABSENT
        return entry[1]

    def put(self, lookup: str, answer: AppSettings | None, now: float, expires: float) -> None:
        self._entries.pop(lookup, None)
        self._entries[lookup] = (expires, answer)
        while self._entries:
            oldest = next(iter(self._entries))
            if self._entries[oldest][0] > now and len(self._entries) <= self._max_entries:
                break
            del self._entries[oldest]

    def __len__(self) -> int:
        return len(self._entries)


class CachedAppManager(AppManager):
    """Caches `inner`'s answers by id and by key for `ttl_seconds` of `clock`.

    `hits` counts lookups answered from the cache, `misses` lookups passed to `inner`. Errors
    of `inner` are not cached: the next lookup tries again.
    """

    def __init__(
        self,
        inner: AppManager,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._inner = inner
        self._ttl = ttl_seconds
        self._clock = clock
        self._by_id = _TtlMap(max_entries)
        self._by_key = _TtlMap(max_entries)
        self.hits = 0
        self.misses = 0

    def find_by_id(self, app_id: str) -> AppSettings | None:
        return self._find(self._by_id, app_id, self._inner.find_by_id)

    def find_by_key(self, key: str) -> AppSettings | None:
        return self._find(self._by_key, key, self._inner.find_by_key)

    def close(self) -> None:
        self._inner.close()

    @property
    def size(self) -> int:
        """Cached answers, by id and by key together."""
        return len(self._by_id) + len(self._by_key)

    def _find(
        self, cache: _TtlMap, lookup: str, load: Callable[[str], AppSettings | None]
    ) -> AppSettings | None:
        cached = cache.get(lookup, self._clock())
        if cached is not _ABSENT:
            self.hits += 1
            return cached  # type: ignore[return-value]
        self.misses += 1
        answer = load(lookup)
        now = self._clock()
        expires = now + self._ttl
        if answer is None:
            cache.put(lookup, None, now, expires)
        else:
            # A socket found by key is usually followed by API calls by id (and back).
            self._by_id.put(answer.id, answer, now, expires)
            self._by_key.put(answer.key, answer, now, expires)
        return answer
