"""Node: the per-process root. It builds the drivers, finds apps through the app manager, and
keeps one AppActor per app in use; the HTTP layer and the WebSocket handler find them here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent

from socketrush.adapters.base import Adapter
from socketrush.adapters.messages import (
    DashboardMessage,
    NodeMessage,
    RemoteBroadcast,
    SubscriptionTotal,
    TerminateUserConnections,
)
from socketrush.app import (
    AppActor,
    CloseAll,
    Publish,
    RemoteConnections,
    Snapshot,
    TerminateUser,
    UpdateSettings,
)
from socketrush.app_managers import AppManager, AppManagerError, build_app_manager
from socketrush.cache.access import ActorCache, CacheAccess
from socketrush.cache.base import Cache
from socketrush.channels import SubscriptionCount
from socketrush.cluster.host import Reach
from socketrush.cluster.messages import AppSnapshot, ClusterLink
from socketrush.cluster.state import ClusterState
from socketrush.dashboard.service import Dashboard
from socketrush.drivers import (
    build_adapter,
    build_cache,
    build_cache_access,
    build_cluster_store,
    build_queue,
)
from socketrush.protocol.errors import ErrorSpec
from socketrush.queues.base import Queue
from socketrush.ratelimit import RateLimiter, build_rate_limiter
from socketrush.redis_client import redis_from_settings
from socketrush.settings import AppSettings, ServerSettings
from socketrush.supervision import HealingSupervisor, counted_supervisor
from socketrush.webhooks import events
from socketrush.webhooks.events import Event
from socketrush.webhooks.notifier import NotifierTiming, WebhookNotifier
from socketrush.webhooks.sender import RetryPolicy, WebhookAttempt, WebhookSender
from socketrush.webhooks.sns import SnsPublisher, post_or_publish, require_sdk_for

log = logging.getLogger(__name__)


def webhook_sender(
    settings: ServerSettings,
    observe: Callable[[WebhookAttempt], None],
    *,
    retry_here: bool = True,
) -> WebhookSender:
    """POSTs to URLs and publishes to SNS topics, with the configured retries."""
    timeout = settings.webhook_timeout_ms / 1000
    sns = SnsPublisher(settings.webhook_sns_region, settings.webhook_sns_endpoint, timeout)
    return WebhookSender(
        RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            base_delay=settings.webhook_retry_base_ms / 1000,
            max_delay=settings.webhook_retry_max_ms / 1000,
            timeout=timeout,
        ),
        send=post_or_publish(sns),
        observe=observe,
        retry_here=retry_here,
    )


class Node:
    """Owns the app actors and drivers for one server process."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.ready = False
        require_sdk_for(settings.apps)
        self.adapter: Adapter = build_adapter(settings)
        self.cache: Cache = build_cache(settings)  # also read by the HTTP API's channel info
        self.cache_access: CacheAccess = build_cache_access(self.cache)
        self.queue: Queue = build_queue(settings)
        self.app_manager: AppManager = build_app_manager(settings)
        shared_redis = redis_from_settings(settings) if settings.adapter_driver == "redis" else None
        nats_bridge = getattr(self.adapter, "bridge", None)  # the nats adapter's connection
        self.rate_limiter: RateLimiter = build_rate_limiter(settings, shared_redis, nats_bridge)
        self.cluster = self._build_cluster()
        peer_id = None if self.cluster is None else self.cluster.node_id
        self.dashboard = Dashboard(settings, lambda: self.apps, self.adapter, peer_id)
        self._apps: dict[str, AppActor] = {}  # by app id
        self._notifiers: dict[str, WebhookNotifier] = {}  # by app id; outlive a replaced app
        self._webhook_timing = NotifierTiming(
            member_removed_delay=settings.webhook_member_removed_delay_ms / 1000,
            batch_window=settings.webhook_batch_window_ms / 1000,
            batch_max_events=settings.webhook_batch_max_events,
        )

    def _build_cluster(self) -> ClusterState | None:
        """Shared state exists only when nodes share a Redis or NATS (the adapter's)."""
        store = build_cluster_store(self.settings, self.adapter)
        if store is None:
            return None
        return ClusterState(
            store,
            self.adapter.node_id,
            host=self,
            node_timeout=self.settings.node_timeout_seconds,
            supervisor=counted_supervisor(),
        )

    def start(self) -> None:
        self.queue.start(
            webhook_sender(
                self.settings,
                self.dashboard.webhook_attempt,
                retry_here=not self.queue.redelivers,
            )
        )
        if isinstance(self.cache_access, ActorCache):
            self.cache_access.actor.start()
        self.adapter.start(self._deliver_remote)
        if self.cluster is not None:
            self.cluster.start()
        for app_settings in self.settings.apps:
            self._actor_for(app_settings)
        self.dashboard.start()
        self.ready = True

    def stop(self, timeout: float) -> None:
        """Stop apps, then webhooks: every event the last disconnects caused (vacated,
        member_removed, ...) reaches the notifiers, which flush to the queue, which drains
        or hands back its jobs within `timeout`."""
        deadline = time.monotonic() + timeout
        self.ready = False
        self._await_disconnects(deadline)
        for app in self._apps.values():
            app.stop(drain=True)
        for app in self._apps.values():
            app.join(max(0.0, deadline - time.monotonic()))
        gevent.idle()  # channel actors handle the leaves the apps just forwarded
        if self.cluster is not None:  # sends the member_removed/vacated the leaves caused
            self.cluster.stop(drain=True)
            self.cluster.join(max(0.0, deadline - time.monotonic()))
        if isinstance(self.cache_access, ActorCache):
            self.cache_access.actor.stop(drain=True)  # last publishes still reach the cache
        self.adapter.stop()
        for notifier in self._notifiers.values():
            notifier.stop(drain=True)
        for notifier in self._notifiers.values():
            notifier.join(max(0.0, deadline - time.monotonic()))
        self.queue.stop(max(0.0, deadline - time.monotonic()))
        self.dashboard.stop()
        self.app_manager.close()

    def _await_disconnects(self, deadline: float) -> None:
        """Connections told to close finish their close handshake on their own greenlets;
        their disconnects must reach the apps before the apps stop, or the vacated and
        member_removed webhooks they cause would be lost. Nothing signals "all gone", so this
        is a bounded poll of the apps' connection counts."""
        while self.connection_count() and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def app_by_id(self, app_id: str) -> AppActor | None:
        """The app's actor, None for an unknown app; raises AppManagerError when the app
        manager cannot answer (the HTTP API then answers 503, a connection is closed with
        4100: see `Err.APP_MANAGER_UNAVAILABLE`)."""
        return self._lookup(self.app_manager.find_by_id, app_id)

    def app_by_key(self, key: str) -> AppActor | None:
        """As `app_by_id`, by key."""
        return self._lookup(self.app_manager.find_by_key, key)

    @property
    def apps(self) -> list[AppActor]:
        return list(self._apps.values())

    def connection_count(self) -> int:
        return sum(app.connection_count for app in self._apps.values())

    def close_connections(self, spec: ErrorSpec) -> int:
        """Ask every app to close its connections with `spec`; returns how many were open."""
        return sum(app.ask(CloseAll(spec)) for app in self._apps.values())

    def _lookup(self, find, value: str) -> AppActor | None:
        """Find the app's current settings (cached by the manager) and its actor.

        A database app manager may be asked here, from the request's own greenlet: a slow
        database then delays that one handshake or API call, never another connection. Its
        failures are logged by the manager, once per outage (app_managers/reported.py).
        """
        app_settings = find(value)
        return None if app_settings is None else self._actor_for(app_settings)

    def _app_for_cluster(self, app_id: str) -> AppActor | None:
        """The app an event the cluster decided belongs to; None when unknown, or when the
        app manager cannot answer (reported there): the event is then dropped, as for an
        app that no longer exists, rather than crash the cluster state actor."""
        try:
            return self.app_by_id(app_id)
        except AppManagerError:
            return None

    def _actor_for(self, app_settings: AppSettings) -> AppActor:
        app = self._apps.get(app_settings.id)
        if app is None:
            app = self._start_app(app_settings)
        # Changed in the database: apply before answering. (A static manager answers with the
        # same object each time: no comparison of every field per connection.)
        elif app.settings is not app_settings and app.settings != app_settings:
            app.ask(UpdateSettings(app_settings))
        return app

    def _start_app(self, app_settings: AppSettings) -> AppActor:
        """A new app actor; at start-up, on first use, or in place of one stopped by its
        crash loop (see socketrush/supervision.py), whose notifier carries on."""
        app_id = app_settings.id
        notifier = self._notifiers.get(app_id)
        if notifier is None:
            notifier = WebhookNotifier(
                app_settings,
                self.queue,
                self._webhook_timing,
                supervisor=counted_supervisor(app_id),
            ).start()
            self._notifiers[app_id] = notifier
        link = None if self.cluster is None else ClusterLink(app_id, self.cluster)
        app = AppActor(
            app_settings,
            self.cache_access,
            self.adapter,
            notifier,
            link,
            supervisor=HealingSupervisor(app_id, on_stopped=self._app_stopped),
            publish_limit=self.settings.publish_queue_limit,
        ).start()
        self._apps[app_id] = app
        return app

    def _app_stopped(self, app: object) -> None:
        """Called in the stopped app's greenlet, after it released its connections."""
        assert isinstance(app, AppActor)
        if self._apps.get(app.settings.id) is app:
            del self._apps[app.settings.id]

    def _deliver_remote(self, message: NodeMessage) -> None:
        """What another node published or asked for, handed to the app it belongs to (or to
        the dashboard)."""
        if isinstance(message, DashboardMessage):
            self.dashboard.deliver(message)
            return
        app = self._apps.get(message.app_id)
        if app is None:
            return
        if isinstance(message, RemoteBroadcast):
            app.tell(
                Publish(
                    message.channel,
                    message.payload,
                    message.except_socket_id,
                    cacheable=False,
                    from_remote=True,
                    event_id=message.event_id,
                )
            )
        elif isinstance(message, SubscriptionTotal):
            app.tell(SubscriptionCount(message.channel, message.total, message.version))
        elif isinstance(message, TerminateUserConnections):
            app.tell(TerminateUser(message.user_id, from_remote=True))

    # -- the cluster state actor's view of this node (see cluster.host.Host) --

    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        reach: Reach = Reach.EVERYWHERE,
    ) -> None:
        """Deliver an event the cluster decided as far as `reach` says. The adapter is told
        directly, not through the app: while the node stops, its apps are gone but the
        member_removed its departure causes must still reach the other nodes."""
        app = self._apps.get(app_id)
        if app is not None and reach is not Reach.EVERYWHERE_IN_ORDER:
            app.tell(Publish(channel, payload, except_socket_id, cacheable=False, from_remote=True))
        if reach is not Reach.HERE:
            loopback = reach is Reach.EVERYWHERE_IN_ORDER
            self.adapter.publish(app_id, channel, payload, except_socket_id, loopback)

    def announce_count(self, app_id: str, channel: str, total: int, version: int) -> None:
        """The cluster-wide count to every node's subscribers, and its webhook once (here),
        if the app counts subscriptions."""
        app = self._app_for_cluster(app_id)
        if app is None or not app.settings.subscription_count_enabled:
            return
        app.tell(SubscriptionCount(channel, total, version))
        if app.notifier is not None:
            app.notifier.notify(events.subscription_count(channel, total))
        self.adapter.send(SubscriptionTotal(app_id, channel, total, version))

    def notify(self, app_id: str, event: Event) -> None:
        app = self._app_for_cluster(app_id)
        if app is not None and app.notifier is not None:
            app.notifier.notify(event)

    def remote_connections(self, app_id: str, count: int) -> None:
        app = self._apps.get(app_id)
        if app is not None:
            app.tell(RemoteConnections(count))

    def snapshot(self) -> list[AppSnapshot]:
        return [app.ask(Snapshot()) for app in list(self._apps.values())]
