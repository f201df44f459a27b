"""What a channel is told and what it needs of the rest of the server.

Kept apart from the actor so the app, the transport and the cluster state can name these
values without importing the actor or its membership strategies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import orjson

from socketrush.cache.access import CacheAccess
from socketrush.cluster.messages import ClusterLink
from socketrush.protocol.errors import ErrorSpec, SubscriptionRefusal
from socketrush.webhooks.events import Event
from socketrush.webhooks.notifier import WebhookNotifier


class Subscriber(Protocol):
    """What a channel needs of a connection: an id, a non-blocking way to send bytes, a
    non-blocking close (a channel that lost its state tells its subscribers to reconnect),
    and non-blocking ways to refuse a subscribe or report an error. The connection reports
    those to the dashboard's debug console too, as it does its own (a channel or app actor
    knows nothing of the dashboard)."""

    socket_id: str

    def send_frame(self, frame: bytes) -> None: ...

    def close_with(self, spec: ErrorSpec, message: str | None = None) -> None: ...

    def fail(self, spec: ErrorSpec, message: str | None = None) -> None: ...

    def refuse(
        self, channel: str, refusal: SubscriptionRefusal, message: str | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Member:
    """A presence member as its channel_data described it."""

    user_id: str
    user_info: object


@dataclass(frozen=True, slots=True)
class Join:
    subscriber: Subscriber
    member: Member | None = None
    # Silent joins (the server-to-user channel after sign-in) send no subscription frames,
    # only `welcome` (its signin_success...) once admitted.
    silent: bool = False
    welcome: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class Leave:
    subscriber: Subscriber


@dataclass(frozen=True, slots=True)
class Routed:
    """The bus confirmed the channel's topic: whatever the other nodes publish from now on
    reaches this node, so the joins the channel held until then are answered."""


ROUTED = Routed()


@dataclass(frozen=True, slots=True)
class MemberChange:
    added: bool  # member_added, else member_removed
    user_id: str


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
    # A client event's JSON, for the other nodes: published by the channel once it has found
    # the sender among its subscribers, so a refused socket reaches no node at all.
    relay: bytes | None = None
    # An API event's id on a cache channel: a subscriber that got this very event from the
    # cache on subscribe does not get it again live (see `ChannelActor._send_cached`).
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionCount:
    """The cluster-wide count the cluster actor announced; `version` orders announcements,
    which reach a node by different paths (its own cluster actor, pub/sub from others)."""

    channel: str
    count: int
    version: int


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
    # Shares a client event with the other nodes: the adapter's `publish` (app id, channel,
    # payload, the sender's socket id). None when there are no other nodes.
    publish_across: Callable[[str, str, bytes, str | None], None] | None = None


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


def not_subscribed(channel: str) -> str:
    """The message of the `pusher:error` (`Err.CLIENT_EVENT_NOT_SUBSCRIBED`) for a client
    event on a channel the sender is not subscribed to."""
    return f"Not subscribed to channel {channel[:210]}"
