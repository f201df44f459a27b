"""Node: the per-process root. It builds the drivers and one AppActor per configured app,
and is where the HTTP layer and the WebSocket handler find them."""

from __future__ import annotations

import logging
import time

from socketrush.adapters.base import Adapter, RemoteBroadcast
from socketrush.adapters.local import LocalAdapter
from socketrush.app import AppActor, CloseAll, Publish
from socketrush.cache.base import Cache
from socketrush.cache.local import LocalCache
from socketrush.config import ServerSettings
from socketrush.protocol.errors import ErrorSpec
from socketrush.queues.base import Queue
from socketrush.queues.local import LocalQueue

log = logging.getLogger(__name__)


def _build_adapter(name: str) -> Adapter:
    if name == "local":
        return LocalAdapter()
    raise NotImplementedError(f"adapter driver {name!r} is not available yet")


def _build_cache(name: str) -> Cache:
    if name == "local":
        return LocalCache()
    raise NotImplementedError(f"cache driver {name!r} is not available yet")


def _build_queue(name: str) -> Queue:
    if name == "local":
        return LocalQueue()
    raise NotImplementedError(f"queue driver {name!r} is not available yet")


class Node:
    """Owns the app actors and drivers for one server process."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.ready = False
        self.adapter = _build_adapter(settings.adapter_driver)
        self.cache = _build_cache(settings.cache_driver)
        self.queue = _build_queue(settings.queue_driver)
        self._apps_by_id: dict[str, AppActor] = {}
        self._apps_by_key: dict[str, AppActor] = {}
        for app_settings in settings.apps:
            app = AppActor(app_settings, self.cache)
            self._apps_by_id[app_settings.id] = app
            self._apps_by_key[app_settings.key] = app

    def start(self) -> None:
        for app in self._apps_by_id.values():
            app.start()
        self.queue.start(lambda job: log.debug("no handler for %s job yet", job.kind))
        self.adapter.start(self._deliver_remote)
        self.ready = True

    def close_connections(self, spec: ErrorSpec) -> int:
        """Ask every app to close its connections with `spec`; returns how many were open."""
        return sum(app.ask(CloseAll(spec)) for app in self._apps_by_id.values())

    def stop(self, timeout: float) -> None:
        self.ready = False
        self.adapter.stop()
        self.queue.stop(timeout)
        for app in self._apps_by_id.values():
            app.stop(drain=True)

    def app_by_id(self, app_id: str) -> AppActor | None:
        return self._apps_by_id.get(app_id)

    def app_by_key(self, key: str) -> AppActor | None:
        return self._apps_by_key.get(key)

    @property
    def apps(self) -> list[AppActor]:
        return list(self._apps_by_id.values())

    def connection_count(self) -> int:
        return sum(app.connection_count for app in self._apps_by_id.values())

    def _deliver_remote(self, broadcast: RemoteBroadcast) -> None:
        app = self._apps_by_id.get(broadcast.app_id)
        if app is not None:
            app.tell(
                Publish(
                    broadcast.channel,
                    broadcast.payload,
                    broadcast.except_socket_id,
                    cacheable=False,
                )
            )
