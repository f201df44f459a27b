"""Apps given by flags, environment variables or the JSON config file, fixed for the life of
the process."""

from __future__ import annotations

from collections.abc import Sequence

from socketrush.app_managers.base import AppManager
from socketrush.settings import AppSettings


class ArrayAppManager(AppManager):
    """Answers from two dicts built once; config loading already rejected duplicate ids/keys."""

    def __init__(self, apps: Sequence[AppSettings]) -> None:
        self._by_id = {app.id: app for app in apps}
        self._by_key = {app.key: app for app in apps}

    def find_by_id(self, app_id: str) -> AppSettings | None:
        return self._by_id.get(app_id)

    def find_by_key(self, key: str) -> AppSettings | None:
        return self._by_key.get(key)
