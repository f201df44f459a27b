"""How a channel decides membership: alone (`LocalMembership`) or with the other nodes
(`ClusteredMembership`). The strategy is chosen once, when the channel is created, the way
`cache/access.py` chooses how the cache is reached: the actor never asks which one it has.

`Channel` is what a strategy may use of its channel; `Membership` is what the channel asks of
its strategy. Both run in the channel's greenlet only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from socketrush.channels.messages import (
    ChannelSettings,
    Join,
    Member,
    MemberChange,
    Subscriber,
)
from socketrush.channels.roster import PresenceRoster
from socketrush.protocol.channels import ChannelInfo
from socketrush.webhooks.events import Event


class Channel(Protocol):
    info: ChannelInfo
    settings: ChannelSettings
    subscribers: dict[str, Subscriber]
    roster: PresenceRoster | None  # presence channels only

    def tell(self, message: object) -> bool:
        """Where the cluster actor sends its answers."""

    def send(self, subscriber: Subscriber, frame: bytes) -> None: ...

    def broadcast(self, frame: bytes, except_socket_id: str | None = None) -> None: ...

    def webhook(self, event: Event) -> None: ...

    def admit(self, join: Join) -> None:
        """Subscribe as this node decides alone (its own members and limits)."""

    def add(self, join: Join, listed: Iterable[str] | None) -> None:
        """Subscribe `join`'s socket, already accepted; `listed`: the member list it is about
        to be sent."""

    def welcome(self, subscriber: Subscriber) -> None:
        """What follows a subscriber's subscription_succeeded (cache, count)."""

    def presence_frame(self, members: dict[str, object]) -> bytes: ...

    def refuse_full(self, subscriber: Subscriber) -> None: ...


class Membership(Protocol):
    # Webhooks someone else sends (the cluster actor, once per cluster-wide transition).
    webhooks_elsewhere: frozenset[str]

    # Socket id -> its join awaiting an answer: the channel is not empty meanwhile.
    pending: Mapping[str, Join]

    def renewed(self) -> Membership:
        """A fresh strategy for the channel's rebuilt state (after a crash)."""

    def join(self, join: Join) -> None:
        """A presence join (`join.member` set)."""

    def cancel_join(self, socket_id: str) -> bool:
        """The socket left while its join awaited an answer: True if it did."""

    def member_added(self, member: Member, joiner: str) -> None:
        """This node made `member` a member (`joiner` is its socket): announce it."""

    def member_left(self, user_id: str) -> None:
        """This node's last socket of `user_id` left."""

    def member_event(
        self, frame: bytes, change: MemberChange, except_socket_id: str | None
    ) -> None:
        """A member_added/removed published by the cluster actor."""

    def added(self, socket_id: str, listed: Iterable[str] | None) -> None:
        """A subscriber was added; `listed` as in `Channel.add`."""

    def welcomed(self) -> None:
        """A subscriber got its subscription_succeeded."""

    def removed(self, socket_id: str) -> None:
        """A subscriber left."""

    def receive(self, message: object) -> bool:
        """Handle a message only this strategy knows; False if it is not one."""

    def release(self, user_ids: Iterable[str], occupied: bool) -> None:
        """The channel lost its state with these members (and subscribers, if `occupied`):
        announce that they are gone, as their leaves would have."""
