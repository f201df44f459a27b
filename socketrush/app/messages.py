"""What connections, the HTTP API, the node and the app's own channels tell or ask an app.

Kept apart from the actor so senders can name them without the actor's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from socketrush.channels import ChannelActor, Member, Subscriber
from socketrush.cluster.messages import ChannelQuery, ChannelsQuery, UsersQuery
from socketrush.protocol.channels import ChannelInfo
from socketrush.protocol.errors import ErrorSpec
from socketrush.settings import AppSettings
from socketrush.webhooks.events import Event


class Connection(Subscriber, Protocol):
    """What the app needs of a connection beyond being a subscriber."""

    def channel_ready(self, name: str, channel: ChannelActor) -> None:
        """The actor of a channel this connection asked to join, so that its client events
        can skip the app actor (one actor hop less on the hottest client path)."""


def server_to_user_channel(user_id: str) -> str:
    return f"#server-to-user-{user_id}"


@dataclass(frozen=True, slots=True)
class Connect:
    connection: Connection
    reserved: bool = False  # the cluster already counted it within the connection limit


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
    event_id: str | None = None  # an API event's on a cache channel: see `Broadcast.event_id`

    @property
    def from_api(self) -> bool:
        """Triggered through the HTTP API: neither a client event nor another node's (or the
        cluster actor's) event. Only these are refused when the app is overloaded."""
        return self.sender is None and not self.from_remote


@dataclass(frozen=True, slots=True)
class UpdateSettings:
    """The app manager found new settings (e.g. edited in the database)."""

    settings: AppSettings


@dataclass(frozen=True, slots=True)
class SignIn:
    """`success`: the `pusher:signin_success` to send once the user's topic is routed (with
    other nodes, a sendToUser from any of them reaches the socket from then on)."""

    connection: Connection
    user_id: str
    watchlist: tuple[str, ...]
    success: bytes | None = None


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
class ChannelStopped:
    """The channel's crash loop stopped it: the app forgets it (it released its sockets)."""

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


def cluster_question(app_id: str, message: object) -> object | None:
    """The cluster state actor's form of a channel query, which needs every node's answer
    when nodes share state; None for any other message."""
    if isinstance(message, ListChannels):
        return ChannelsQuery(app_id, message.prefix, message.with_user_count)
    if isinstance(message, QueryChannel):
        return ChannelQuery(app_id, message.name)
    if isinstance(message, QueryUsers):
        return UsersQuery(app_id, message.name)
    return None
