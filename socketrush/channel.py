"""ChannelActor: one per occupied channel on this node.

It owns the channel's subscribers and presence members, and it is the only place that fans a
broadcast out: the frame arrives already encoded and framed, and the same bytes are offered to
every subscriber's outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, cast

import orjson

from actors import Actor, Supervisor
from socketrush import metrics
from socketrush.cache.access import CacheAccess, CachedEvent, cache_key
from socketrush.cluster.messages import (
    ChannelCount,
    ClusterLink,
    CountWritten,
    PresenceJoin,
    PresenceJoined,
    PresenceLeave,
)
from socketrush.protocol import frames
from socketrush.protocol.channels import ChannelInfo, ChannelKind
from socketrush.protocol.errors import Err, error_frame
from socketrush.protocol.websocket import text_frame
from socketrush.webhooks import events
from socketrush.webhooks.events import Event
from socketrush.webhooks.notifier import WebhookNotifier


class Subscriber(Protocol):
    """What a channel needs of a connection: an id and a non-blocking way to send bytes."""

    socket_id: str

    def send_frame(self, frame: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Member:
    """A presence member as its channel_data described it."""

    user_id: str
    user_info: object


@dataclass(frozen=True, slots=True)
class Join:
    subscriber: Subscriber
    member: Member | None = None
    # Silent joins (the server-to-user channel after sign-in) send no subscription frames.
    silent: bool = False


@dataclass(frozen=True, slots=True)
class Leave:
    subscriber: Subscriber


class Broadcast(NamedTuple):
    """One frame for the channel's subscribers (a tuple: one per event, built ~3x faster
    than a frozen dataclass)."""

    frame: bytes  # WebSocket-framed, ready for the wire
    except_socket_id: str | None = None
    # A client event's sender. Only the channel knows for sure whether it is a subscriber
    # (a socket's own list still names a presence channel that refused it as over its
    # member limit), so the channel checks and tells a non-subscriber instead of relaying.
    sender: Subscriber | None = None
    webhook: Event | None = None  # a client event's webhook, sent once the channel relayed it
    member: MemberChange | None = None  # set when the frame is a member_added/removed


@dataclass(frozen=True, slots=True)
class SubscriptionCount:
    """The cluster-wide count the cluster actor announced; `version` orders announcements,
    which reach a node by different paths (its own cluster actor, pub/sub from others)."""

    channel: str
    count: int
    version: int


@dataclass(frozen=True, slots=True)
class MemberChange:
    added: bool  # member_added, else member_removed
    user_id: str


_MEMBER_EVENT_PREFIX = b'{"event":"pusher_internal:member_'


def member_change(payload: bytes) -> MemberChange | None:
    """Recognise the member events the cluster actor publishes (their JSON starts with the
    event name: `frames` builds them); any other payload costs one prefix check."""
    if not payload.startswith(_MEMBER_EVENT_PREFIX):
        return None
    try:
        frame = orjson.loads(payload)
        user_id = orjson.loads(frame["data"])["user_id"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(user_id, str):
        return None
    return MemberChange(frame["event"] == "pusher_internal:member_added", user_id)


def not_subscribed_error(channel: str) -> bytes:
    """The `pusher:error` for a client event on a channel the sender is not subscribed to."""
    return error_frame(
        Err.CLIENT_EVENT_NOT_SUBSCRIBED, f"Not subscribed to channel {channel[:210]}"
    )


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """A snapshot for the HTTP API's channel queries."""

    subscription_count: int
    user_count: int | None  # None for non-presence channels


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """The app limits a channel enforces itself."""

    app_id: str  # metrics label and cache key
    max_presence_members: int
    subscription_count_enabled: bool
    cache: CacheAccess  # where a cache channel's last event is read
    notifier: WebhookNotifier | None = None
    # Set when nodes share state: presence membership and occupancy are then decided
    # cluster-wide by the cluster state actor, which also sends those webhooks.
    cluster: ClusterLink | None = None


# A Broadcast's last fields when it is a plain publish (from the HTTP API or another node):
# no client-event sender, no webhook, no member change. Runs of these that exclude the same
# socket are joined (`_broadcast_run`) up to these bounds, which keep one write within a
# socket's send buffer.
_PLAIN = (None, None, None)
_RUN_FRAMES = 64
_RUN_BYTES = 16 * 1024

# Webhooks the cluster state actor sends once per cluster-wide transition.
_CLUSTER_WEBHOOKS = frozenset(
    {
        events.CHANNEL_OCCUPIED,
        events.CHANNEL_VACATED,
        events.MEMBER_ADDED,
        events.MEMBER_REMOVED,
        events.SUBSCRIPTION_COUNT,
    }
)


class ChannelActor(Actor):
    """State: subscribers by socket id; for presence, members and their sockets; across nodes,
    which members this node's subscribers were told about (see `_member_broadcast`)."""

    def __init__(
        self,
        info: ChannelInfo,
        settings: ChannelSettings,
        on_empty: Callable[[ChannelActor], None],
        supervisor: Supervisor | None = None,
    ) -> None:
        super().__init__(name=f"channel:{info.name}", supervisor=supervisor)
        self.info = info
        self._settings = settings
        self._on_empty = on_empty
        self._subscribers: dict[str, Subscriber] = {}
        self._members: dict[str, Member] = {}  # presence: user id -> member
        self._member_sockets: dict[str, set[str]] = {}  # presence: user id -> socket ids
        self._socket_user: dict[str, str] = {}  # presence: socket id -> user id
        self._pending: dict[str, Join] = {}  # cluster presence: joins awaiting the cluster
        cluster = settings.cluster
        self._cluster = cluster if info.kind is not ChannelKind.SERVER_TO_USER else None
        # Cluster presence: the members the member events delivered here so far add up to,
        # and the subscribers whose join list differed from that: `_ahead[uid]` were listed
        # uid before its member_added arrived, `_behind[uid]` were not listed a uid whose
        # member_removed is still on its way.
        self._roster: set[str] = set()
        self._ahead: dict[str, set[str]] = {}
        self._behind: dict[str, set[str]] = {}
        # Cluster-wide counts: no subscriber may get one older than `_count_version`; a
        # joiner gets none until its own join's count is written (`_unsettled`: socket id ->
        # the `ChannelCount.seq` of that write), so none older than the one including it.
        self._count_version = 0
        self._count: SubscriptionCount | None = None  # the newest one sent
        self._count_seq = 0
        self._unsettled: dict[str, int] = {}

    # -- read-only snapshots (non-yielding; see docs/architecture.md "queries") --

    def stats(self) -> ChannelStats:
        user_count = len(self._members) if self.info.is_presence else None
        return ChannelStats(len(self._subscribers), user_count)

    def user_ids(self) -> list[str]:
        return list(self._members)

    def local_presence(self) -> dict[str, object]:
        """This node's members (user id -> info), for rewriting the cluster's state."""
        return {uid: member.user_info for uid, member in self._members.items()}

    @property
    def is_empty(self) -> bool:
        return not self._subscribers and not self._pending

    def state_summary(self) -> str:
        return (
            f"channel={self.info.name} subscribers={len(self._subscribers)} "
            f"members={len(self._members)}"
        )

    # -- messages --

    def receive(self, message: object) -> object:
        if isinstance(message, Broadcast):
            sender = message.sender
            if sender is not None and sender.socket_id not in self._subscribers:
                self._send(sender, text_frame(not_subscribed_error(self.info.name)))
            elif message.member is not None and self._cluster is not None:
                self._member_broadcast(message.frame, message.member, message.except_socket_id)
            elif message.sender is None and self.mailbox_depth and message[2:] == _PLAIN:
                self._broadcast_run(message.frame, message.except_socket_id)
            else:
                self._broadcast(message.frame, message.except_socket_id)
                if message.webhook is not None:
                    self._webhook(message.webhook)
        elif isinstance(message, Join):
            if message.member is not None and self._cluster is not None:
                self._ask_cluster(message)
            else:
                self._join(message)
        elif isinstance(message, PresenceJoined):
            self._cluster_joined(message)
        elif isinstance(message, CachedEvent):
            self._send_cached(message)
        elif isinstance(message, SubscriptionCount):
            self._cluster_count(message)
        elif isinstance(message, CountWritten):
            self._count_written(message)
        elif isinstance(message, Leave):
            self._leave(message.subscriber)
        else:
            raise TypeError(f"unexpected message {type(message).__name__}")
        return None

    def _broadcast_run(self, frame: bytes, except_socket_id: str | None) -> None:
        """Send this plain broadcast together with the plain ones queued behind it that
        exclude the same socket (usually none), as one write per subscriber.

        They queue when a fan-out takes longer than the gap between publishes, and then the
        send system call is most of the cost of a delivery: a run of n costs one send per
        subscriber instead of n. It adds no delay, since nothing waits for a run to fill."""
        size = len(frame)

        def joinable(message: object) -> bool:
            nonlocal size
            if (
                type(message) is not Broadcast
                or message.except_socket_id != except_socket_id
                or message[2:] != _PLAIN
            ):
                return False
            size += len(message.frame)
            return size <= _RUN_BYTES

        run = cast(list[Broadcast], self.take_queued(joinable, _RUN_FRAMES))
        if run:
            frame = b"".join([frame, *(queued.frame for queued in run)])
        self._broadcast(frame, except_socket_id, frames=1 + len(run))

    def _broadcast(self, frame: bytes, except_socket_id: str | None, frames: int = 1) -> None:
        """`frame` may hold several WebSocket frames (`frames`), counted as that many messages."""
        subscribers = self._subscribers
        if except_socket_id is None:
            for subscriber in subscribers.values():
                subscriber.send_frame(frame)
            sent = len(subscribers)
        else:
            sent = 0
            for socket_id, subscriber in subscribers.items():
                if socket_id != except_socket_id:
                    subscriber.send_frame(frame)
                    sent += 1
        metrics.count_broadcast(self._settings.app_id, sent, len(frame), frames)

    def _send(self, subscriber: Subscriber, frame: bytes) -> None:
        subscriber.send_frame(frame)
        metrics.count_broadcast(self._settings.app_id, 1, len(frame))

    def _join(self, join: Join) -> None:
        subscriber, member = join.subscriber, join.member
        name = self.info.name
        if subscriber.socket_id in self._subscribers:
            # A repeated subscribe is answered again, without changing membership.
            if not join.silent:
                self._send(subscriber, text_frame(self._succeeded_frame()))
            return
        joining = member is not None and member.user_id not in self._members
        if joining and len(self._members) >= self._settings.max_presence_members:
            self._send(
                subscriber,
                text_frame(frames.subscription_refused(name, Err.SUBSCRIPTION_PRESENCE_FULL)),
            )
            self._notify_if_empty()
            return
        if not self._subscribers:
            self._webhook(events.channel_occupied(name))
        if joining:
            assert member is not None
            self._members[member.user_id] = member
            frame = text_frame(frames.member_added(name, member.user_id, member.user_info))
            if self._cluster is not None:  # Redis unreachable: this node decided alone
                self._member_broadcast(frame, MemberChange(True, member.user_id), None)
            else:
                self._broadcast(frame, None)
            self._webhook(events.member_added(name, member.user_id))
        self._add(join, self._members if member is not None else None)
        if join.silent:
            return
        self._send(subscriber, text_frame(self._succeeded_frame()))
        self._after_succeeded(subscriber)

    def _add(self, join: Join, listed: Iterable[str] | None) -> None:
        """Subscribe; `listed` is the member list the subscriber is about to be sent."""
        subscriber, member = join.subscriber, join.member
        if listed is not None and self._cluster is not None:
            self._baseline(subscriber.socket_id, listed, first=not self._subscribers)
        self._subscribers[subscriber.socket_id] = subscriber
        if member is not None:
            self._members.setdefault(member.user_id, member)
            self._member_sockets.setdefault(member.user_id, set()).add(subscriber.socket_id)
            self._socket_user[subscriber.socket_id] = member.user_id
        self._count_changed(joined=subscriber.socket_id)

    def _member_left(self, user_id: str) -> None:
        """This node's last socket of `user_id` left. Cluster-wide, other nodes may still
        have the user: the cluster actor decides and sends member_removed."""
        name = self.info.name
        if self._cluster is not None:
            self._cluster.actor.tell(PresenceLeave(self._cluster.app_id, name, user_id))
            return
        self._broadcast(text_frame(frames.member_removed(name, user_id)), None)
        self._webhook(events.member_removed(name, user_id))

    def _count_changed(self, joined: str | None = None) -> None:
        """Tell the cluster actor this node's count; a counted joiner waits for the answer."""
        if self._cluster is None:
            return
        announce = self._settings.subscription_count_enabled and not self.info.is_presence
        seq, reply_to = 0, None
        if announce and joined is not None:
            self._count_seq += 1
            seq, reply_to = self._count_seq, self
            self._unsettled[joined] = seq
        count = len(self._subscribers)
        self._cluster.actor.tell(
            ChannelCount(self._cluster.app_id, self.info.name, count, announce, seq, reply_to)
        )

    # -- presence across nodes --

    def _ask_cluster(self, join: Join) -> None:
        """The member list, the member limit and member_added are cluster-wide: the cluster
        actor answers with `PresenceJoined`, and only then is the socket subscribed."""
        assert join.member is not None and self._cluster is not None
        socket_id = join.subscriber.socket_id
        if socket_id not in self._subscribers:
            self._pending[socket_id] = join
        self._cluster.actor.tell(
            PresenceJoin(
                self._cluster.app_id,
                self.info.name,
                join.member.user_id,
                join.member.user_info,
                self._settings.max_presence_members,
                join,
                self,
                socket_id,
            )
        )

    def _cluster_joined(self, answer: PresenceJoined) -> None:
        join = answer.token
        assert isinstance(join, Join) and join.member is not None
        subscriber, user_id = join.subscriber, join.member.user_id
        socket_id = subscriber.socket_id
        if self._pending.get(socket_id) is not join:
            if socket_id in self._subscribers and answer.members is not None:
                self._forget_baseline(socket_id)
                self._baseline(socket_id, answer.members, first=len(self._subscribers) == 1)
                self._send(subscriber, text_frame(self._presence_frame(answer.members)))
            elif answer.members is not None and user_id not in self._members:
                self._member_left(user_id)  # it left while the cluster answered: undo
            self._notify_if_empty()
            return
        del self._pending[socket_id]
        if answer.refused:
            self._send(
                subscriber,
                text_frame(
                    frames.subscription_refused(self.info.name, Err.SUBSCRIPTION_PRESENCE_FULL)
                ),
            )
            self._notify_if_empty()
        elif answer.members is None:
            self._join(join)  # Redis unreachable: decide from this node's members alone
        else:
            self._add(join, answer.members)
            self._send(subscriber, text_frame(self._presence_frame(answer.members)))
            self._after_succeeded(subscriber)

    def _baseline(self, socket_id: str, listed: Iterable[str], *, first: bool) -> None:
        """Note how a joiner's member list differs from what the member events delivered so
        far add up to. The first subscriber's list is the baseline itself: events still in
        flight when it was read are then already in it."""
        listed = set(listed)
        if first:
            self._roster = listed
            self._ahead.clear()
            self._behind.clear()
            return
        for user_id in listed - self._roster:
            self._ahead.setdefault(user_id, set()).add(socket_id)
        for user_id in self._roster - listed:
            self._behind.setdefault(user_id, set()).add(socket_id)

    def _forget_baseline(self, socket_id: str) -> None:
        for differences in (self._ahead, self._behind):
            for user_id in [uid for uid, ids in differences.items() if socket_id in ids]:
                ids = differences[user_id]
                ids.discard(socket_id)
                if not ids:
                    del differences[user_id]

    def _member_broadcast(
        self, frame: bytes, change: MemberChange, except_socket_id: str | None
    ) -> None:
        """Send a member event only to the subscribers whose member list it changes.

        Member events travel over pub/sub while a joiner's list is read from Redis, so an
        event may arrive after a list that already reflects it; pusher-js would then fire
        member_added for a member it has, or member_removed for one it never saw.
        """
        user_id = change.user_id
        ahead = self._ahead.pop(user_id, set())
        behind = self._behind.pop(user_id, set())
        known = user_id in self._roster
        if change.added:
            self._roster.add(user_id)
            targets = behind if known else self._subscribers.keys() - ahead
        else:
            self._roster.discard(user_id)
            targets = self._subscribers.keys() - behind if known else ahead
        sent = 0
        for socket_id in targets:
            subscriber = self._subscribers.get(socket_id)
            if subscriber is not None and socket_id != except_socket_id:
                subscriber.send_frame(frame)
                sent += 1
        metrics.count_broadcast(self._settings.app_id, sent, len(frame))

    def _after_succeeded(self, subscriber: Subscriber) -> None:
        if self.info.is_cache:
            key = cache_key(self._settings.app_id, self.info.name)
            answer = self._settings.cache.fetch(key, self, subscriber)
            if answer is not None:
                self._send_cached(answer)
        self._announce_count()

    def _send_cached(self, answer: CachedEvent) -> None:
        """The cache channel's last event (or a miss) for a subscriber still here."""
        subscriber = cast(Subscriber, answer.token)
        if self._subscribers.get(subscriber.socket_id) is not subscriber:
            return
        name = self.info.name
        payload = answer.payload if answer.payload is not None else frames.cache_miss(name)
        self._send(subscriber, text_frame(payload))
        if answer.payload is None:
            self._webhook(events.cache_miss(name))

    def _leave(self, subscriber: Subscriber) -> None:
        socket_id = subscriber.socket_id
        if self._pending.pop(socket_id, None) is not None:
            self._notify_if_empty()  # the cluster's answer will find it gone and undo
            return
        if self._subscribers.pop(socket_id, None) is None:
            return
        if self._ahead or self._behind:
            self._forget_baseline(socket_id)
        self._unsettled.pop(socket_id, None)
        user_id = self._socket_user.pop(socket_id, None)
        if user_id is not None:
            sockets = self._member_sockets[user_id]
            sockets.discard(socket_id)
            if not sockets:
                del self._member_sockets[user_id]
                del self._members[user_id]
                self._member_left(user_id)
        self._count_changed()
        self._announce_count()
        if not self._subscribers:
            self._webhook(events.channel_vacated(self.info.name))
        self._notify_if_empty()

    def _succeeded_frame(self) -> bytes:
        if not self.info.is_presence:
            return frames.subscription_succeeded(self.info.name)
        return self._presence_frame({uid: m.user_info for uid, m in self._members.items()})

    def _presence_frame(self, members: dict[str, object]) -> bytes:
        ids = list(members)
        presence = {"ids": ids, "hash": members, "count": len(ids)}
        return frames.subscription_succeeded(self.info.name, presence)

    def _announce_count(self) -> None:
        """Single node only: across nodes the cluster actor announces the cluster-wide count
        (`ChannelCount.announce`)."""
        if (
            self._settings.subscription_count_enabled
            and self._cluster is None
            and not self.info.is_presence
            and self._subscribers
        ):
            count = len(self._subscribers)
            self._broadcast(text_frame(frames.subscription_count(self.info.name, count)), None)
            self._webhook(events.subscription_count(self.info.name, count))

    def _cluster_count(self, message: SubscriptionCount) -> None:
        """A count reaches a node by two paths (its own cluster actor, pub/sub from the
        others), so it may come after a newer one: the older is dropped."""
        if not self._subscribers:
            self._notify_if_empty()  # the app keeps a channel that had mail when it emptied
            return
        if message.version < self._count_version:
            return
        self._count_version = message.version
        self._count = message
        frame = text_frame(frames.subscription_count(self.info.name, message.count))
        if not self._unsettled:
            self._broadcast(frame, None)
            return
        sent = 0
        for socket_id, subscriber in self._subscribers.items():
            if socket_id not in self._unsettled:
                subscriber.send_frame(frame)
                sent += 1
        metrics.count_broadcast(self._settings.app_id, sent, len(frame))

    def _count_written(self, message: CountWritten) -> None:
        """The joins up to `message.seq` are counted in Redis: their sockets take counts
        from now on, none older than `message.version`, whose count is on its way."""
        settled = [sid for sid, seq in self._unsettled.items() if seq <= message.seq]
        for socket_id in settled:
            del self._unsettled[socket_id]
        if not self._subscribers:
            self._notify_if_empty()  # as in `_cluster_count`
            return
        if message.version is None:
            return  # no count was announced for them (Redis unreachable, or no change)
        latest = self._count
        if latest is None or latest.version < message.version:
            self._count_version = message.version
            return
        # A newer count, which includes them, went out while they waited: theirs too.
        frame = text_frame(frames.subscription_count(self.info.name, latest.count))
        for socket_id in settled:
            self._send(self._subscribers[socket_id], frame)

    def _webhook(self, event: Event) -> None:
        """Tell the app's notifier (never waits). The server-to-user channels are internal."""
        notifier = self._settings.notifier
        if notifier is None or self.info.kind is ChannelKind.SERVER_TO_USER:
            return
        if self._cluster is not None and event["name"] in _CLUSTER_WEBHOOKS:
            return
        notifier.notify(event)

    def _notify_if_empty(self) -> None:
        if not self._subscribers:
            self._on_empty(self)
