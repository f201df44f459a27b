"""AppActor: one per app on this node.

It owns the app's registry of channel actors, its connections (for the connection quota and
`terminate_connections`), and its signed-in users and their watchlists. Everything that must
see the app as a whole goes through its mailbox, so there are no locks: subscribes, publishes
and queries are processed one at a time, in order.

Each channel actor in the registry watches its topic on the adapter (interest routing: the
node receives a channel's traffic from other nodes only while it has the channel's actor);
leaving the registry unwatches it.

It is also the supervisor of its channels (see socketrush/supervision.py): a crashed channel
rebuilds itself, one stopped by its crash loop is forgotten here and replaced on demand. A
crash of the app itself rebuilds the app empty and releases what it held (`_release`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from actors import Actor, ActorError, MailboxFull, Supervisor
from socketrush.adapters.base import Adapter
from socketrush.adapters.messages import TerminateUserConnections
from socketrush.adapters.topics import channel_topic
from socketrush.app.messages import (
    ChannelEmpty,
    ChannelStopped,
    CloseAll,
    Connect,
    Connection,
    Disconnect,
    ListChannels,
    Publish,
    QueryChannel,
    QueryUsers,
    RemoteConnections,
    SignIn,
    Snapshot,
    Subscribe,
    TerminateUser,
    Unsubscribe,
    UpdateSettings,
    cluster_question,
    server_to_user_channel,
)
from socketrush.app.queries import AppQueries
from socketrush.app.users import SignedInUsers
from socketrush.cache.access import CACHE_TTL_SECONDS, CacheAccess, cache_entry, cache_key
from socketrush.channels import (
    ROUTED,
    Broadcast,
    ChannelActor,
    ChannelSettings,
    Join,
    Leave,
    Member,
    SubscriptionCount,
    member_change,
    not_subscribed,
)
from socketrush.cluster.messages import (
    ClusterLink,
    ClusterUnavailable,
    ConnectionCount,
    ReserveConnection,
)
from socketrush.protocol.channels import ChannelInfo, classify
from socketrush.protocol.errors import Err, ErrorSpec
from socketrush.protocol.websocket import text_frame
from socketrush.settings import AppSettings
from socketrush.supervision import CRASH_LOOP_RESTARTS, HealingSupervisor
from socketrush.webhooks.notifier import WebhookNotifier

log = logging.getLogger(__name__)

RESERVE_TIMEOUT_SECONDS = 2.0  # a connecting socket waits this long for the cluster's quota
DEFAULT_PUBLISH_LIMIT = 10_000  # see `publish_queue_limit` in socketrush/options.py


class AppActor(AppQueries, Actor):
    def __init__(
        self,
        settings: AppSettings,
        cache: CacheAccess,
        adapter: Adapter,
        notifier: WebhookNotifier | None = None,
        cluster: ClusterLink | None = None,
        *,
        supervisor: Supervisor | None = None,
        publish_limit: int = DEFAULT_PUBLISH_LIMIT,
        channel_restarts: int = CRASH_LOOP_RESTARTS,
    ) -> None:
        """`supervisor` settles the app's own crashes (the node's); a channel is stopped when
        it crashes again after `channel_restarts` restarts within `CRASH_LOOP_SECONDS`."""
        super().__init__(name=f"app:{settings.id}", supervisor=supervisor)
        self._channel_supervisor = HealingSupervisor(
            settings.id,
            on_stopped=lambda channel: self.tell(ChannelStopped(channel)),
            max_restarts=channel_restarts,
        )
        self._publish_limit = publish_limit
        self._cluster = cluster
        self._remote_connections = 0
        self.settings = settings
        self._cache = cache
        self._adapter = adapter
        self.notifier = notifier  # read by connections to build client_event webhooks
        self._channels: dict[str, ChannelActor] = {}
        self._connections: dict[str, Connection] = {}
        self._users = SignedInUsers()
        self._apply(settings)

    def _apply(self, settings: AppSettings) -> None:
        """Derive channel settings; channels already open keep theirs."""
        self.settings = settings
        self._channel_settings = ChannelSettings(
            app_id=settings.id,
            max_presence_members=settings.max_presence_members_per_channel,
            subscription_count_enabled=settings.subscription_count_enabled,
            cache=self._cache,
            notifier=self.notifier,
            cluster=self._cluster,
            publish_across=self._adapter.publish,
        )

    def _update_settings(self, message: UpdateSettings) -> None:
        self._apply(message.settings)
        if self.notifier is not None:
            self.notifier.reconfigure(message.settings)

    def tell(self, message: object) -> bool:
        """An HTTP API publish is refused with `MailboxFull` while `publish_limit` messages
        wait (see `tell_all`). Everything else is taken at any depth: a connection's message
        dropped would leave a socket half subscribed or a member behind (and connections
        bound their own traffic), another node's event would be lost for good."""
        if type(message) is Publish and message.from_api:
            self.check_room()
        return super().tell(message)

    def tell_all(self, publishes: Sequence[Publish]) -> None:
        """Queue one API request's publishes, all or none: refused with `MailboxFull` while
        `publish_limit` messages wait, so the API answers 429 for a request of which nothing
        was published (it may be sent again as it is). A request let in is queued whole, so
        the mailbox holds at most the limit plus one request's events: a publish flood
        costs bounded memory."""
        self.check_room()
        for publish in publishes:
            super().tell(publish)

    def check_room(self) -> None:
        """Raise `MailboxFull` while `publish_limit` messages wait (the API answers 429)."""
        if self.mailbox_depth >= self._publish_limit:
            raise MailboxFull(f"{self.name}: {self._publish_limit} messages waiting")

    def ask(self, message: object, timeout: float = 5.0) -> object:
        """Channel queries need every node's answer when nodes share state: the cluster state
        actor answers them (it may block on Redis; this actor must not). Without Redis they
        are answered from this node alone. A connection under a connection limit is counted
        by the cluster first, in the connecting socket's greenlet (see `_reserve`)."""
        if isinstance(message, Connect) and self._cluster is not None:
            reserved = self._reserve()
            if reserved is False:
                return Err.OVER_CONNECTION_QUOTA
            message = Connect(message.connection, reserved=bool(reserved))
        elif self._cluster is not None:
            question = cluster_question(self.settings.id, message)
            if question is not None:
                try:
                    return self._cluster.actor.ask(question, timeout)
                except ClusterUnavailable:
                    log.warning("cluster state unavailable: answering from this node only")
        return super().ask(message, timeout)

    def _reserve(self) -> bool | None:
        """Ask the cluster to count one more connection within the app's limit: True
        counted, False over the limit, None unknown (no limit, Redis or the cluster actor
        unreachable: the limit is then checked against this node's view, failing open)."""
        limit = self.settings.max_connections
        if not limit or self._cluster is None:
            return None
        deadline = time.monotonic() + RESERVE_TIMEOUT_SECONDS
        try:
            answer = self._cluster.actor.ask(
                ReserveConnection(self.settings.id, limit, deadline),
                # a little longer than the deadline: an answer made in time always arrives
                RESERVE_TIMEOUT_SECONDS + 0.5,
            )
        except ActorError as error:
            log.warning("connection quota: the cluster did not answer (%s)", error)
            return None
        return answer if isinstance(answer, bool) else None

    def receive(self, message: object) -> object:
        handler = self._handlers.get(type(message))
        if handler is None:
            raise TypeError(f"unexpected message {type(message).__name__}")
        return handler(self, message)

    # -- after a crash --

    def on_restart(self, error: BaseException) -> None:
        self._release()

    def on_stop(self) -> None:
        """A stop on request (shutdown) keeps the drain's order; a crash loop releases."""
        if self.failure is not None:
            self._release()

    def on_dropped(self, message: object) -> None:
        """A connection's message a crash-loop stop dropped: that connection was not known
        yet, or asked for something it will never get; it reconnects (to a new app actor)."""
        connection = getattr(message, "connection", None)
        if connection is not None and not isinstance(message, Disconnect):
            connection.close_with(Err.APP_RESTARTED)

    def _release(self) -> None:
        """Start over empty: a handler that crashed half-way (a disconnect whose leaves were
        not all told) leaves registries no one can trust. Every connection is closed with
        4200 and every channel stopped, which releases its subscribers and members."""
        channels, connections = self._channels, self._connections
        self._channels, self._connections, self._users = {}, {}, SignedInUsers()
        released = f"{len(connections)} connections told to reconnect, {len(channels)} channels"
        log.warning("app %s released: %s stopped", self.settings.id, released)
        for conn in connections.values():
            conn.close_with(Err.APP_RESTARTED)
        for channel in channels.values():
            self._unwatch(channel)
            channel.stop()
        self._count_connections()

    # -- connections --

    def _connect(self, message: Connect) -> ErrorSpec | None:
        limit = self.settings.max_connections
        if (
            limit
            and not message.reserved
            and len(self._connections) + self._remote_connections >= limit
        ):
            return Err.OVER_CONNECTION_QUOTA
        conn = message.connection
        self._connections[conn.socket_id] = conn
        self._count_connections(message.reserved)
        return None

    def _count_connections(self, reserved: bool = False) -> None:
        if self._cluster is not None:
            count = len(self._connections)
            self._cluster.actor.tell(ConnectionCount(self.settings.id, count, reserved))

    def _set_remote_connections(self, message: RemoteConnections) -> None:
        self._remote_connections = message.count

    def _disconnect(self, message: Disconnect) -> None:
        conn = message.connection
        if self._connections.pop(conn.socket_id, None) is not None:
            self._count_connections()
        for name in message.channels:
            self._leave(conn, name)
        if message.user_id is not None:
            self._leave(conn, server_to_user_channel(message.user_id))
        self._users.disconnected(conn, message.user_id, message.watchlist)

    # -- channels --

    def _subscribe(self, message: Subscribe) -> None:
        channel = self._join(message.channel, Join(message.connection, message.member))
        message.connection.channel_ready(message.channel.name, channel)

    def join_at_once(self, conn: Connection, info: ChannelInfo, member: Member | None) -> bool:
        """A connection's subscribe to a live channel, without a `Subscribe` to the app (its
        message, dispatch and inline hand-over are a few percent of a connect): the app would
        only look the channel up, so the channel is told here, in the caller's greenlet.
        Only while the app is idle, so nothing of it is running or queued, and the lookup does
        not yield. False: the caller tells the app a `Subscribe` instead."""
        if not self.idle:
            return False
        channel = self._channels.get(info.name)
        if channel is None or not channel.is_alive:
            return False
        channel.tell_inline(Join(conn, member))
        conn.channel_ready(info.name, channel)
        return True

    def _join(self, info: ChannelInfo, join: Join) -> ChannelActor:
        """A channel stopped by its crash loop (its `ChannelStopped` still on the way) is
        replaced like a missing one: it released everything it held already."""
        channel = self._channels.get(info.name)
        if channel is None or not channel.is_alive:
            if channel is not None:
                self._unwatch(channel)
            channel = self._new_channel(info)
            self._channels[info.name] = channel
        channel.tell_inline(join)  # an idle channel answers at once, in this greenlet
        return channel

    def _new_channel(self, info: ChannelInfo) -> ChannelActor:
        """A channel actor watching its topic; until the bus confirms it, joins wait."""
        channel: ChannelActor | None = None

        def routed() -> None:  # never called before `watch` returns (see Adapter.watch)
            assert channel is not None
            channel.tell(ROUTED)

        ready = self._adapter.watch(channel_topic(self.settings.id, info.name), routed)
        channel = ChannelActor(
            info,
            self._channel_settings,
            on_empty=lambda ch: self.tell(ChannelEmpty(ch)),
            supervisor=self._channel_supervisor,
            routed=ready,
        ).start()
        return channel

    def _unwatch(self, channel: ChannelActor) -> None:
        self._adapter.unwatch(channel_topic(self.settings.id, channel.info.name))

    def _unsubscribe(self, message: Unsubscribe) -> None:
        self._leave(message.connection, message.channel)

    def _leave(self, conn: Connection, name: str) -> None:
        channel = self._channels.get(name)
        if channel is not None:
            channel.tell_inline(Leave(conn))

    def _subscription_count(self, message: SubscriptionCount) -> None:
        channel = self._channels.get(message.channel)
        if channel is not None:
            channel.tell(message)

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
            self._unwatch(channel)
            channel.stop()

    def _channel_stopped(self, message: ChannelStopped) -> None:
        channel = message.channel
        if self._channels.get(channel.info.name) is channel:
            del self._channels[channel.info.name]
            self._unwatch(channel)

    def _publish(self, message: Publish) -> None:
        name = message.channel
        info = classify(name)
        if message.cacheable and info.is_cache:
            entry = cache_entry(message.event_id, message.payload)
            self._cache.store(cache_key(self.settings.id, name), entry, CACHE_TTL_SECONDS)
        channel = self._channels.get(name)
        if channel is not None:
            # Across nodes a channel sends a member event only to whom it changes something.
            member = None
            if info.is_presence and self._cluster is not None and message.sender is None:
                member = member_change(message.payload)
            channel.tell(
                Broadcast(
                    text_frame(message.payload),
                    message.except_socket_id,
                    message.sender,
                    message.webhook,
                    member,
                    # A client event goes to the other nodes only once the channel found its
                    # sender subscribed (a presence channel over its limit refuses a socket
                    # that still names it).
                    message.payload if message.sender is not None else None,
                    message.event_id,
                )
            )
            if message.sender is not None:
                return
        elif message.sender is not None:
            message.sender.fail(Err.CLIENT_EVENT_NOT_SUBSCRIBED, not_subscribed(name))
            return
        if not message.from_remote:
            self._adapter.publish(
                self.settings.id,
                name,
                message.payload,
                message.except_socket_id,
                event_id=message.event_id,
            )

    # -- users --

    def _sign_in(self, message: SignIn) -> None:
        """The socket joins its user's channel silently; its signin_success (and which of
        its watchlist are online) goes out once the channel admits it."""
        conn = message.connection
        online = self._users.sign_in(conn, message.user_id, message.watchlist)
        welcome = () if message.success is None else (text_frame(message.success),)
        if online is not None:
            welcome += (online,)
        join = Join(conn, silent=True, welcome=welcome)
        self._join(classify(server_to_user_channel(message.user_id)), join)

    def _terminate_user(self, message: TerminateUser) -> int:
        sockets = self._users.sockets_of(message.user_id)
        for conn in sockets:
            conn.close_with(Err.UNAUTHORIZED_CONNECTION, "Connection terminated by the app")
        if not message.from_remote:
            self._adapter.send(TerminateUserConnections(self.settings.id, message.user_id))
        return len(sockets)

    def _close_all(self, message: CloseAll) -> int:
        connections = list(self._connections.values())
        for conn in connections:
            conn.close_with(message.spec)
        return len(connections)

    _handlers = {
        Connect: _connect,
        Disconnect: _disconnect,
        Subscribe: _subscribe,
        Unsubscribe: _unsubscribe,
        Publish: _publish,
        SubscriptionCount: _subscription_count,
        SignIn: _sign_in,
        TerminateUser: _terminate_user,
        ChannelEmpty: _channel_empty,
        ChannelStopped: _channel_stopped,
        CloseAll: _close_all,
        UpdateSettings: _update_settings,
        ListChannels: AppQueries._list_channels,
        QueryChannel: AppQueries._query_channel,
        QueryUsers: AppQueries._query_users,
        RemoteConnections: _set_remote_connections,
        Snapshot: AppQueries._snapshot,
    }
