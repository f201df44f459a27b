"""In-process cache for a single node."""

from __future__ import annotations

import time

from socketrush.cache.base import Cache


class LocalCache(Cache):
    """A dict with lazy expiry: an expired entry is dropped when it is next read or overwritten.

    Entries are few (one per cache channel), so there is no sweeper greenlet waking up to
    scan them; a periodic `purge_expired` is available to bound memory for apps that use many
    short-lived cache channels.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, bytes]] = {}

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        return value

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if len(self._entries) > 10_000:
            self.purge_expired()
        self._entries[key] = (time.monotonic() + ttl_seconds, value)

    def ttl(self, key: str) -> float | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        remaining = entry[0] - time.monotonic()
        return remaining if remaining > 0 else None

    def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def purge_expired(self) -> int:
        """Drop every expired entry; returns how many went."""
        now = time.monotonic()
        expired = [key for key, (expires_at, _) in self._entries.items() if expires_at <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)
