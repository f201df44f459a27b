"""What channel and app actors tell the cluster state actor, and what it answers.

Kept apart from the actor so the `channels` and `app` packages can import them without
importing Redis or each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ClusterUnavailable(Exception):
    """Redis could not be asked; the caller answers from this node's state instead."""


class ActorRef(Protocol):
    def tell(self, message: object) -> bool: ...

    def ask(self, message: object, timeout: float = 5.0) -> object: ...


@dataclass(frozen=True, slots=True)
class ChannelCount:
    """A channel's subscriber count on this node changed (0: none left here). `announce`:
    the channel wants the new cluster-wide count sent as subscription_count (frame to every
    node's subscribers, webhook from this node). `reply_to`: tell it `CountWritten(seq, ...)`
    once written, before the count is announced."""

    app_id: str
    channel: str
    count: int
    announce: bool = False
    seq: int = 0
    reply_to: ActorRef | None = None


@dataclass(frozen=True, slots=True)
class CountWritten:
    """The answer to the channel's `ChannelCount` number `seq`: `version` of the count
    announced for it, which reaches the channel after this message; None when none was
    (the total did not change, or Redis is unreachable and the count was journaled)."""

    seq: int
    version: int | None


@dataclass(frozen=True, slots=True)
class ConnectionCount:
    """The app's connection count on this node now. `reserved`: the connection just added
    was counted by a `ReserveConnection` already."""

    app_id: str
    count: int
    reserved: bool = False


@dataclass(frozen=True, slots=True)
class ReserveConnection:
    """Asked from a connecting socket's greenlet when the app has a connection limit: count
    one more connection for this node if the cluster-wide total stays within `limit`.

    Answers True (counted), False (over the limit) or None (not counted: Redis unreachable,
    or the answer came after `deadline`, when the asker had given up; the app counts it
    itself). A late answer is never applied, so an asker that timed out never leaves a
    reservation behind.
    """

    app_id: str
    limit: int
    deadline: float  # time.monotonic() after which the reservation must not be made


@dataclass(frozen=True, slots=True)
class PresenceJoin:
    """A socket asks to join a presence channel; the answer goes to `reply_to`."""

    app_id: str
    channel: str
    user_id: str
    user_info: object
    max_members: int
    token: object  # handed back untouched (the channel's pending subscriber)
    reply_to: ActorRef
    except_socket_id: str  # the joining socket does not get its own member_added


@dataclass(frozen=True, slots=True)
class PresenceJoined:
    """`members` is the cluster-wide member list after the join, or None when the channel
    must decide alone (Redis unreachable). `refused`: the channel is full cluster-wide."""

    token: object
    members: dict[str, object] | None
    refused: bool = False


@dataclass(frozen=True, slots=True)
class PresenceLeave:
    """A user's last socket on this node left a presence channel."""

    app_id: str
    channel: str
    user_id: str


@dataclass(frozen=True, slots=True)
class ClusterLink:
    """How a channel or app reaches the cluster state actor."""

    app_id: str
    actor: ActorRef


@dataclass(frozen=True, slots=True)
class AppSnapshot:
    """One app's local state, written again after the node lost Redis or was reaped."""

    app_id: str
    connections: int
    channels: dict[str, int]  # channel -> local subscribers
    presence: dict[str, dict[str, object]]  # channel -> user id -> user info


@dataclass(frozen=True, slots=True)
class ChannelsQuery:
    app_id: str
    prefix: str
    with_user_count: bool


@dataclass(frozen=True, slots=True)
class ChannelQuery:
    app_id: str
    name: str


@dataclass(frozen=True, slots=True)
class UsersQuery:
    app_id: str
    name: str
