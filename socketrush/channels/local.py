"""Membership decided by this node alone: one node, or a server-to-user channel (internal to
its node) on a node that shares state with others.

A presence join is decided from the channel's own roster, member events and webhooks go out
from here, and the channel announces its own subscription count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from socketrush.channels.membership import Channel, Membership
from socketrush.channels.messages import Join, Member, MemberChange
from socketrush.protocol import frames
from socketrush.protocol.websocket import text_frame
from socketrush.webhooks import events


class LocalMembership:
    """No state of its own: the channel's subscribers and roster are the whole truth."""

    webhooks_elsewhere: frozenset[str] = frozenset()
    pending: Mapping[str, Join] = MappingProxyType({})  # a join is answered at once

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def renewed(self) -> Membership:
        return self

    def join(self, join: Join) -> None:
        self._channel.admit(join)

    def cancel_join(self, socket_id: str) -> bool:
        return False

    def member_added(self, member: Member, joiner: str) -> None:
        channel = self._channel
        name = channel.info.name
        payload = frames.member_added(name, member.user_id, member.user_info)
        channel.broadcast(text_frame(payload), joiner)
        channel.webhook(events.member_added(name, member.user_id))

    def member_left(self, user_id: str) -> None:
        channel = self._channel
        name = channel.info.name
        channel.broadcast(text_frame(frames.member_removed(name, user_id)))
        channel.webhook(events.member_removed(name, user_id))

    def member_event(
        self, frame: bytes, change: MemberChange, except_socket_id: str | None
    ) -> None:
        self._channel.broadcast(frame, except_socket_id)

    def added(self, socket_id: str, listed: Iterable[str] | None) -> None:
        """Counted when welcomed: a joiner's count follows its subscription_succeeded."""

    def welcomed(self) -> None:
        self._announce_count()

    def removed(self, socket_id: str) -> None:
        self._announce_count()

    def receive(self, message: object) -> bool:
        return False

    def release(self, user_ids: Iterable[str], occupied: bool) -> None:
        for user_id in user_ids:
            self.member_left(user_id)
        if occupied:
            self._channel.webhook(events.channel_vacated(self._channel.info.name))

    def _announce_count(self) -> None:
        channel = self._channel
        if (
            channel.settings.subscription_count_enabled
            and not channel.info.is_presence
            and channel.subscribers
        ):
            name, count = channel.info.name, len(channel.subscribers)
            channel.broadcast(text_frame(frames.subscription_count(name, count)))
            channel.webhook(events.subscription_count(name, count))
