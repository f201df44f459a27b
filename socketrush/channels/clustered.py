"""Membership decided with the other nodes, through the cluster state actor.

Presence membership, the member limit and occupancy are cluster-wide: a presence join waits
for the cluster actor's answer (`PresenceJoined`), a leave and every count change are told to
it, and it sends member events and the occupancy/member/count webhooks once per cluster-wide
transition. The subscription count comes back from it stamped with a version, and a joiner
gets no count older than the one its own join produced (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from socketrush.channels.fanout import fan_out
from socketrush.channels.member_view import MemberView
from socketrush.channels.membership import Channel, Membership
from socketrush.channels.messages import Join, Member, MemberChange, SubscriptionCount
from socketrush.cluster.messages import (
    ChannelCount,
    ClusterLink,
    CountWritten,
    PresenceJoin,
    PresenceJoined,
    PresenceLeave,
)
from socketrush.protocol import frames
from socketrush.protocol.websocket import text_frame
from socketrush.webhooks import events

# Webhooks the cluster state actor sends once per cluster-wide transition.
CLUSTER_WEBHOOKS = frozenset(
    {
        events.CHANNEL_OCCUPIED,
        events.CHANNEL_VACATED,
        events.MEMBER_ADDED,
        events.MEMBER_REMOVED,
        events.SUBSCRIPTION_COUNT,
    }
)


class ClusteredMembership:
    """State: presence joins awaiting the cluster (`pending`), the member view of late
    member events (presence channels), and the order of subscription counts."""

    webhooks_elsewhere = CLUSTER_WEBHOOKS

    def __init__(
        self, channel: Channel, link: ClusterLink, count_seq: int = 0, count_version: int = 0
    ) -> None:
        self._channel = channel
        self._link = link
        self.pending: dict[str, Join] = {}  # socket id -> its join awaiting the cluster
        self._view = MemberView() if channel.info.is_presence else None
        # Counts the cluster announces as subscription_count (and the channel waits for).
        self._counted = channel.settings.subscription_count_enabled and not channel.info.is_presence
        # No subscriber may get a count older than `_count_version`; a joiner gets none until
        # its own join's count is written (`_unsettled`: socket id -> the `ChannelCount.seq`
        # of that write), so none older than the one including it.
        self._count_version = count_version
        self._count: SubscriptionCount | None = None  # the newest one sent
        self._count_seq = count_seq
        self._unsettled: dict[str, int] = {}

    def renewed(self) -> Membership:
        """Fresh, but counting on from here: an answer to a write of the lost state must not
        pass for one of the new state's, nor an older count for a newer."""
        return ClusteredMembership(self._channel, self._link, self._count_seq, self._count_version)

    # -- presence --

    def join(self, join: Join) -> None:
        """The member list, the member limit and member_added are cluster-wide: the cluster
        actor answers with `PresenceJoined`, and only then is the socket subscribed."""
        channel = self._channel
        socket_id = join.subscriber.socket_id
        joined_as = channel.roster.member_of(socket_id) if channel.roster is not None else None
        pending = self.pending.get(socket_id)
        if joined_as is None and pending is not None:
            joined_as = pending.member  # its first join awaits the answer
        if joined_as is not None:
            # A repeated subscribe changes no membership, as on a single node: the list is
            # asked for as the member the socket already is (or is about to be), not as its
            # new channel_data. The answer to the first join admits it, this one lists it anew.
            join = replace(join, member=joined_as)
        else:
            self.pending[socket_id] = join
        member = join.member
        assert member is not None
        self._link.actor.tell(
            PresenceJoin(
                self._link.app_id,
                channel.info.name,
                member.user_id,
                member.user_info,
                channel.settings.max_presence_members,
                join,
                channel,
                socket_id,
            )
        )

    def cancel_join(self, socket_id: str) -> bool:
        """Its join is queued at the cluster actor ahead of anything sent now, so a leave
        undoes it in order. Waiting for the answer instead stranded the member in Redis when
        the channel, empty, was retired before the answer came (found by the soak)."""
        join = self.pending.pop(socket_id, None)
        if join is None:
            return False
        if join.member is not None and not self._is_member(join.member.user_id):
            self._tell_leave(join.member.user_id)
        return True

    def member_added(self, member: Member, joiner: str) -> None:
        """Redis was unreachable and this node decided alone."""
        payload = frames.member_added(self._channel.info.name, member.user_id, member.user_info)
        self.member_event(text_frame(payload), MemberChange(True, member.user_id), joiner)

    def member_left(self, user_id: str) -> None:
        """This node's last subscribed socket of the user left. Other nodes may still have
        the user: the cluster actor decides and sends member_removed. Not while a join of
        the user awaits its answer: the node still claims the user, and that answer lists
        it again (a leave now would remove the member the join is about to report)."""
        if not self._awaits(user_id):
            self._tell_leave(user_id)

    def _tell_leave(self, user_id: str) -> None:
        link = self._link
        link.actor.tell(PresenceLeave(link.app_id, self._channel.info.name, user_id))

    def member_event(
        self, frame: bytes, change: MemberChange, except_socket_id: str | None
    ) -> None:
        """Sent only to the subscribers whose member list it changes (see `MemberView`)."""
        channel = self._channel
        subscribers = channel.subscribers
        if self._view is not None:
            targets = self._view.recipients(change, subscribers.keys())
            subscribers = {sid: subscribers[sid] for sid in targets if sid in subscribers}
        fan_out(channel.settings.app_id, subscribers, frame, except_socket_id)

    def _joined(self, answer: PresenceJoined) -> None:
        join = answer.token
        assert isinstance(join, Join) and join.member is not None
        channel = self._channel
        subscriber, user_id = join.subscriber, join.member.user_id
        socket_id = subscriber.socket_id
        if self.pending.get(socket_id) is not join:
            if socket_id in channel.subscribers and answer.members is not None:
                # A repeated subscribe: the socket is listed anew.
                if self._view is not None:
                    self._view.forget(socket_id)
                    first = len(channel.subscribers) == 1
                    self._view.listed(socket_id, answer.members, first=first)
                channel.send(subscriber, text_frame(channel.presence_frame(answer.members)))
            # A join whose socket left meanwhile was undone when it left (`cancel_join`).
            return
        del self.pending[socket_id]
        if answer.refused:
            channel.refuse_full(subscriber)
            if not self._is_member(user_id):
                self._tell_leave(user_id)  # nothing was written then: leaves are idempotent
        elif answer.members is None:
            channel.admit(join)  # Redis unreachable: decide from this node's members alone
        else:
            channel.add(join, answer.members)
            channel.send(subscriber, text_frame(channel.presence_frame(answer.members)))
            channel.welcome(subscriber)

    def _is_member(self, user_id: str) -> bool:
        """A member here, or about to be: another of its sockets awaits its own answer."""
        roster = self._channel.roster
        return (roster is not None and user_id in roster) or self._awaits(user_id)

    def _awaits(self, user_id: str) -> bool:
        return any(
            join.member is not None and join.member.user_id == user_id
            for join in self.pending.values()
        )

    # -- subscribers and counts --

    def added(self, socket_id: str, listed: Iterable[str] | None) -> None:
        if listed is not None and self._view is not None:
            first = len(self._channel.subscribers) == 1
            self._view.listed(socket_id, listed, first=first)
        self._count_changed(joined=socket_id)

    def welcomed(self) -> None:
        """The cluster actor announces the count (`ChannelCount.announce`)."""

    def removed(self, socket_id: str) -> None:
        if self._view is not None:
            self._view.forget(socket_id)
        self._unsettled.pop(socket_id, None)
        self._count_changed()

    def _count_changed(self, joined: str | None = None) -> None:
        """Tell the cluster actor this node's count; a counted joiner waits for the answer."""
        seq, reply_to = 0, None
        if self._counted and joined is not None:
            self._count_seq += 1
            seq, reply_to = self._count_seq, self._channel
            self._unsettled[joined] = seq
        link, channel = self._link, self._channel
        count = len(channel.subscribers)
        link.actor.tell(
            ChannelCount(link.app_id, channel.info.name, count, self._counted, seq, reply_to)
        )

    def receive(self, message: object) -> bool:
        if isinstance(message, PresenceJoined):
            self._joined(message)
        elif isinstance(message, SubscriptionCount):
            self._announced(message)
        elif isinstance(message, CountWritten):
            self._count_written(message)
        else:
            return False
        return True

    def _announced(self, message: SubscriptionCount) -> None:
        """A count reaches a node by two paths (its own cluster actor, pub/sub from the
        others), so it may come after a newer one: the older is dropped."""
        channel = self._channel
        if not channel.subscribers:
            return
        if message.version < self._count_version:
            return
        self._count_version = message.version
        self._count = message
        frame = text_frame(frames.subscription_count(channel.info.name, message.count))
        subscribers = channel.subscribers
        if self._unsettled:
            unsettled = self._unsettled
            subscribers = {sid: s for sid, s in subscribers.items() if sid not in unsettled}
        fan_out(channel.settings.app_id, subscribers, frame)

    def _count_written(self, message: CountWritten) -> None:
        """The joins up to `message.seq` are counted in Redis: their sockets take counts
        from now on, none older than `message.version`, whose count is on its way."""
        channel = self._channel
        settled = [sid for sid, seq in self._unsettled.items() if seq <= message.seq]
        for socket_id in settled:
            del self._unsettled[socket_id]
        if not channel.subscribers:
            return
        if message.version is None:
            return  # no count was announced for them (Redis unreachable, or no change)
        latest = self._count
        if latest is None or latest.version < message.version:
            self._count_version = message.version
            return
        # A newer count, which includes them, went out while they waited: theirs too.
        frame = text_frame(frames.subscription_count(channel.info.name, latest.count))
        for socket_id in settled:
            channel.send(channel.subscribers[socket_id], frame)

    # -- after a crash --

    def release(self, user_ids: Iterable[str], occupied: bool) -> None:
        """Leaves for the members and the joins awaiting an answer (the cluster actor handles
        them after those joins, in order), and a count of 0 for the subscribers."""
        waiting = (join.member.user_id for join in self.pending.values() if join.member)
        for user_id in dict.fromkeys([*user_ids, *waiting]):
            self._tell_leave(user_id)
        if occupied:
            link = self._link
            link.actor.tell(ChannelCount(link.app_id, self._channel.info.name, 0, self._counted))
