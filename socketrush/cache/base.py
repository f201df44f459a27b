"""The cache interface: a key-value store with per-key expiry."""

from __future__ import annotations

from abc import ABC, abstractmethod


class Cache(ABC):
    """Values are bytes so every driver (memory, Redis) stores them the same way."""

    @abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...

    @abstractmethod
    def ttl(self, key: str) -> float | None:
        """Seconds until `key` expires, or None when it is absent."""

    @abstractmethod
    def delete(self, key: str) -> None: ...
