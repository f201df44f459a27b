"""The app manager interface: where the server finds an application by id or by key.

Lookups are by id for the HTTP API (`/apps/{id}/...`) and by key for WebSocket connections
(`/app/{key}`); both return the same immutable AppSettings so callers never care where apps
are stored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from socketrush.settings import AppSettings


class AppManagerError(Exception):
    """The app store could not answer (database unreachable, table missing); `str()` is one line
    meant for a person. Distinct from "no such app", which is a `None` answer."""


class AppManager(ABC):
    """Finds applications; a disabled app is still found (with `enabled=False`) so callers can
    tell "disabled" from "unknown"."""

    @abstractmethod
    def find_by_id(self, app_id: str) -> AppSettings | None:
        """The app with this id, or None; raises AppManagerError if the store cannot answer."""

    @abstractmethod
    def find_by_key(self, key: str) -> AppSettings | None:
        """The app with this key, or None; raises AppManagerError if the store cannot answer."""

    def close(self) -> None:  # noqa: B027 - most managers hold nothing to release
        """Release connections; the manager is not used afterwards."""
