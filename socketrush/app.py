"""AppActor: one per app on this node.

It owns the app's registry of channel actors, its connections (for the connection quota and
`terminate_connections`), its signed-in users and their watchlists, and the backend rate
limits. Everything that must see the app as a whole goes through its mailbox, so there are no
locks: subscribes, publishes and queries are processed one at a time, in order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from actors import Actor
from socketrush.adapters.base import Adapter, RemoteBroadcast
from socketrush.cache.base import Cache
from socketrush.channel import (
    Broadcast,
    ChannelActor,
    ChannelSettings,
    ChannelStats,
    Join,
    Leave,
    Member,
    Subscriber,
    not_subscribed_error,
)
from socketrush.cluster.messages import (
    AppSnapshot,
    ChannelQuery,
    ChannelsQuery,
    ClusterLink,
    ClusterUnavailable,
    ConnectionCount,
    UsersQuery,
)
from socketrush.config import AppSettings
from socketrush.protocol import frames
from socketrush.protocol.channels import ChannelInfo, classify
from socketrush.protocol.errors import Err, ErrorSpec
from socketrush.protocol.websocket import text_frame
from socketrush.ratelimit import PerSecondLimiter
from socketrush.webhooks.events import Event
from socketrush.webhooks.notifier import WebhookNotifier

log = logging.getLogger(__name__)

CACHE_TTL_SECONDS = 30 * 60  # Pusher keeps a cache channel's last event for 30 minutes


class Connection(Subscriber, Protocol):
    """What the app needs of a connection beyond being a subscriber."""

    def close_with(self, spec: ErrorSpec, message: str | None = None) -> None: ...


def server_to_user_channel(user_id: str) -> str:
    return f"#server-to-user-{user_id}"


# Travels between nodes like a broadcast (no client can subscribe to a `#` name), but is a
# command: each node closes the user's sockets it holds.
TERMINATE_PREFIX = "#terminate-user-"


# -- messages --


@dataclass(frozen=True, slots=True)
class Connect:
    connection: Connection


@dataclass(frozen=True, slots=True)
class Disconnect:
    connection: Connection
    channels: tuple[str, ...]
    user_id: str | None
    watchlist: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subscribe:
    connection: Connection
    channel: ChannelInfo
    member: Member | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    connection: Connection
    channel: str


@dataclass(frozen=True, slots=True)
class Publish:
    """One event for one channel: `payload` is the JSON text, encoded once by the sender."""

    channel: str
    payload: bytes
    except_socket_id: str | None = None
    cacheable: bool = True
    sender: Subscriber | None = None  # set for client events; see `Broadcast.sender`
    from_remote: bool = False  # arrived from another node: deliver here, never re-publish
    webhook: Event | None = None  # a client event's webhook; see `Broadcast.webhook`


@dataclass(frozen=True, slots=True)
class UpdateSettings:
    """The app manager found new settings (e.g. edited in the database)."""

    settings: AppSettings


@dataclass(frozen=True, slots=True)
class SignIn:
    connection: Connection
    user_id: str
    watchlist: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TerminateUser:
    user_id: str
    from_remote: bool = False  # another node asked: close ours, tell no one else


@dataclass(frozen=True, slots=True)
class CloseAll:
    """Close every connection of the app with `spec` (e.g. 4200 on graceful shutdown)."""

    spec: ErrorSpec


@dataclass(frozen=True, slots=True)
class ChannelEmpty:
    channel: ChannelActor


@dataclass(frozen=True, slots=True)
class ListChannels:
    prefix: str
    with_user_count: bool


@dataclass(frozen=True, slots=True)
class QueryChannel:
    name: str


@dataclass(frozen=True, slots=True)
class QueryUsers:
    name: str


@dataclass(frozen=True, slots=True)
class RemoteConnections:
    """How many connections the app has on the other live nodes (for the quota)."""

    count: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Ask for this node's state of the app, to write it to the cluster again."""


@dataclass(frozen=True, slots=True)
class TakeTokens:
    """Rate limit check: may `count` backend events / read requests happen now?"""

    kind: str  # "backend_events" | "read_requests"
    count: int = 1


class AppActor(Actor):
    def __init__(
        self,
        settings: AppSettings,
        cache: Cache,
        adapter: Adapter,
        notifier: WebhookNotifier | None = None,
        cluster: ClusterLink | None = None,
    ) -> None:
        super().__init__(name=f"app:{settings.id}")
        self._cluster = cluster
        self._remote_connections = 0
        self.settings = settings
        self._cache = cache
        self._adapter = adapter
        self.notifier = notifier  # read by connections to build client_event webhooks
        self._channels: dict[str, ChannelActor] = {}
        self._connections: dict[str, Connection] = {}
        self._users: dict[str, dict[str, Connection]] = {}  # user id -> socket id -> conn
        self._watchers: dict[str, dict[str, Connection]] = {}  # watched id -> watchers
        self._apply(settings)

    def _apply(self, settings: AppSettings) -> None:
        """Derive limiters and channel settings; channels already open keep theirs."""
        self.settings = settings
        self._limiters = {
            "backend_events": PerSecondLimiter(settings.max_backend_events_per_second),
            "read_requests": PerSecondLimiter(settings.max_read_requests_per_second),
        }
        self._channel_settings = ChannelSettings(
            max_presence_members=settings.max_presence_members_per_channel,
            subscription_count_enabled=settings.subscription_count_enabled,
            cached_event=self._cached_event,
            notifier=self.notifier,
            cluster=self._cluster,
        )

    def _update_settings(self, message: UpdateSettings) -> None:
        self._apply(message.settings)
        if self.notifier is not None:
            self.notifier.reconfigure(message.settings)

    def state_summary(self) -> str:
        return (
            f"app={self.settings.id} channels={len(self._channels)} "
            f"connections={len(self._connections)} users={len(self._users)}"
        )

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def ask(self, message: object, timeout: float = 5.0) -> object:
        """Channel queries need every node's answer when nodes share state: the cluster state
        actor answers them (it may block on Redis; this actor must not). Without Redis they
        are answered from this node alone."""
        if self._cluster is not None:
            question = self._cluster_question(message)
            if question is not None:
                try:
                    return self._cluster.actor.ask(question, timeout)
                except ClusterUnavailable:
                    log.warning("cluster state unavailable: answering from this node only")
        return super().ask(message, timeout)

    def _cluster_question(self, message: object) -> object | None:
        app_id = self.settings.id
        if isinstance(message, ListChannels):
            return ChannelsQuery(app_id, message.prefix, message.with_user_count)
        if isinstance(message, QueryChannel):
            return ChannelQuery(app_id, message.name)
        if isinstance(message, QueryUsers):
            return UsersQuery(app_id, message.name)
        return None

    def receive(self, message: object) -> object:
        handler = self._handlers.get(type(message))
        if handler is None:
            raise TypeError(f"unexpected message {type(message).__name__}")
        return handler(self, message)

    # -- connections --

    def _connect(self, message: Connect) -> ErrorSpec | None:
        limit = self.settings.max_connections
        if limit and len(self._connections) + self._remote_connections >= limit:
            return Err.OVER_CONNECTION_QUOTA
        conn = message.connection
        self._connections[conn.socket_id] = conn
        self._count_connections()
        return None

    def _count_connections(self) -> None:
        if self._cluster is not None:
            self._cluster.actor.tell(ConnectionCount(self.settings.id, len(self._connections)))

    def _set_remote_connections(self, message: RemoteConnections) -> None:
        self._remote_connections = message.count

    def _disconnect(self, message: Disconnect) -> None:
        conn = message.connection
        if self._connections.pop(conn.socket_id, None) is not None:
            self._count_connections()
        for name in message.channels:
            self._leave(conn, name)
        for watched in message.watchlist:
            watchers = self._watchers.get(watched)
            if watchers is not None:
                watchers.pop(conn.socket_id, None)
                if not watchers:
                    del self._watchers[watched]
        if message.user_id is not None:
            self._leave(conn, server_to_user_channel(message.user_id))
            sockets = self._users.get(message.user_id)
            if sockets is not None:
                sockets.pop(conn.socket_id, None)
                if not sockets:
                    del self._users[message.user_id]
                    self._tell_watchers(message.user_id, "offline")

    # -- channels --

    def _subscribe(self, message: Subscribe) -> None:
        self._join(message.channel, Join(message.connection, message.member))

    def _join(self, info: ChannelInfo, join: Join) -> None:
        channel = self._channels.get(info.name)
        if channel is None:
            channel = ChannelActor(
                info, self._channel_settings, on_empty=lambda ch: self.tell(ChannelEmpty(ch))
            ).start()
            self._channels[info.name] = channel
        channel.tell(join)

    def _unsubscribe(self, message: Unsubscribe) -> None:
        self._leave(message.connection, message.channel)

    def _leave(self, conn: Connection, name: str) -> None:
        channel = self._channels.get(name)
        if channel is not None:
            channel.tell(Leave(conn))

    def _channel_empty(self, message: ChannelEmpty) -> None:
        channel = message.channel
        # Retire only if nothing is waiting in its mailbox: a Join forwarded after it emptied
        # must find it alive. This check and the removal happen without yielding.
        if (
            self._channels.get(channel.info.name) is channel
            and channel.is_empty
            and channel.mailbox_depth == 0
        ):
            del self._channels[channel.info.name]
            channel.stop()

    def _publish(self, message: Publish) -> None:
        name = message.channel
        if message.cacheable and classify(name).is_cache:
            self._cache.set(self._cache_key(name), message.payload, CACHE_TTL_SECONDS)
        channel = self._channels.get(name)
        if channel is not None:
            channel.tell(
                Broadcast(
                    text_frame(message.payload),
                    message.except_socket_id,
                    message.sender,
                    message.webhook,
                )
            )
        elif message.sender is not None:
            message.sender.send_frame(text_frame(not_subscribed_error(name)))
            return
        if not message.from_remote:
            self._adapter.publish(
                RemoteBroadcast(self.settings.id, name, message.payload, message.except_socket_id)
            )

    def _cache_key(self, channel: str) -> str:
        return f"cache-channel:{self.settings.id}:{channel}"

    def _cached_event(self, channel: str) -> bytes | None:
        return self._cache.get(self._cache_key(channel))

    # -- users --

    def _sign_in(self, message: SignIn) -> None:
        conn, user_id = message.connection, message.user_id
        first_socket = user_id not in self._users
        self._users.setdefault(user_id, {})[conn.socket_id] = conn
        self._join(classify(server_to_user_channel(user_id)), Join(conn, silent=True))
        for watched in message.watchlist:
            self._watchers.setdefault(watched, {})[conn.socket_id] = conn
        online = [uid for uid in message.watchlist if uid in self._users]
        if online:
            conn.send_frame(
                text_frame(frames.watchlist_events([{"name": "online", "user_ids": online}]))
            )
        if first_socket:
            self._tell_watchers(user_id, "online")

    def _tell_watchers(self, user_id: str, name: str) -> None:
        watchers = self._watchers.get(user_id)
        if watchers:
            frame = text_frame(frames.watchlist_events([{"name": name, "user_ids": [user_id]}]))
            for conn in watchers.values():
                conn.send_frame(frame)

    def _terminate_user(self, message: TerminateUser) -> int:
        sockets = list(self._users.get(message.user_id, {}).values())
        for conn in sockets:
            conn.close_with(Err.UNAUTHORIZED_CONNECTION, "Connection terminated by the app")
        if not message.from_remote:
            self._adapter.publish(
                RemoteBroadcast(self.settings.id, TERMINATE_PREFIX + message.user_id, b"", None)
            )
        return len(sockets)

    def _close_all(self, message: CloseAll) -> int:
        connections = list(self._connections.values())
        for conn in connections:
            conn.close_with(message.spec)
        return len(connections)

    # -- queries and limits --

    def _list_channels(self, message: ListChannels) -> dict[str, ChannelStats]:
        return {
            name: channel.stats()
            for name, channel in self._channels.items()
            if name.startswith(message.prefix) and not channel.is_empty and not name.startswith("#")
        }

    def _query_channel(self, message: QueryChannel) -> ChannelStats | None:
        channel = self._channels.get(message.name)
        return channel.stats() if channel is not None and not channel.is_empty else None

    def _query_users(self, message: QueryUsers) -> list[str]:
        channel = self._channels.get(message.name)
        return channel.user_ids() if channel is not None else []

    def _take_tokens(self, message: TakeTokens) -> bool:
        return self._limiters[message.kind].take(message.count)

    def _snapshot(self, _message: Snapshot) -> AppSnapshot:
        channels = {
            name: channel.stats().subscription_count
            for name, channel in self._channels.items()
            if not name.startswith("#") and not channel.is_empty
        }
        presence = {
            name: channel.local_presence()
            for name, channel in self._channels.items()
            if channel.info.is_presence and not channel.is_empty
        }
        return AppSnapshot(self.settings.id, len(self._connections), channels, presence)

    _handlers = {
        Connect: _connect,
        Disconnect: _disconnect,
        Subscribe: _subscribe,
        Unsubscribe: _unsubscribe,
        Publish: _publish,
        SignIn: _sign_in,
        TerminateUser: _terminate_user,
        ChannelEmpty: _channel_empty,
        CloseAll: _close_all,
        UpdateSettings: _update_settings,
        ListChannels: _list_channels,
        QueryChannel: _query_channel,
        QueryUsers: _query_users,
        TakeTokens: _take_tokens,
        RemoteConnections: _set_remote_connections,
        Snapshot: _snapshot,
    }
