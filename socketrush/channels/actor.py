"""ChannelActor: one per occupied channel on this node.

It owns the channel's subscribers and presence roster, and it is the only place that fans a
broadcast out: the frame arrives already encoded and framed, and the same bytes are offered to
every subscriber's outbox. Who decides membership — this node alone, or the cluster — is its
membership strategy, chosen once at creation (`membership_for`).

With other nodes, a new channel's first joins wait for its topic (`Routed`, see
adapters/interest.py): a subscriber is told subscription_succeeded only once every event
another node publishes after that reaches this node.

A crash leaves state that cannot be trusted (a join half done). The channel then rebuilds it
empty and releases what the old one held (`_release`): its subscribers are told to reconnect
(4200: pusher-js reconnects at once and subscribes again) and its members leave as if their
sockets had, so no ghost member stays in webhooks, in other clients' lists or in the cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import cast

from actors import Actor, Supervisor
from socketrush.cache.access import CachedEvent, cache_key
from socketrush.channels.clustered import ClusteredMembership
from socketrush.channels.fanout import fan_out, send_one
from socketrush.channels.local import LocalMembership
from socketrush.channels.membership import Channel, Membership
from socketrush.channels.messages import (
    Broadcast,
    ChannelSettings,
    ChannelStats,
    Join,
    Leave,
    Routed,
    Subscriber,
    not_subscribed,
)
from socketrush.channels.roster import PresenceRoster
from socketrush.protocol import frames
from socketrush.protocol.channels import ChannelInfo, ChannelKind
from socketrush.protocol.errors import Err
from socketrush.protocol.websocket import text_frame
from socketrush.webhooks import events
from socketrush.webhooks.events import Event

log = logging.getLogger(__name__)

# A Broadcast's fields after the first two when it is a plain publish (from the HTTP API or
# another node): no client-event sender, no webhook, no member change, no relay. Runs of these
# that exclude the same socket are joined (`_broadcast_run`) up to these bounds, which keep
# one write within a socket's send buffer.
_PLAIN = (None, None, None, None)
_RUN_FRAMES = 64
_RUN_BYTES = 16 * 1024
# Events a cache channel remembers having sent from the cache ahead of their live delivery
# (`_cached_to`); beyond, the oldest is forgotten (one published before the channel's topic
# was routed never arrives live).
_CACHED_AHEAD_KEPT = 64


def membership_for(channel: Channel) -> Membership:
    """Clustered when nodes share state; server-to-user channels are internal to a node."""
    link = channel.settings.cluster
    if link is None or channel.info.kind is ChannelKind.SERVER_TO_USER:
        return LocalMembership(channel)
    return ClusteredMembership(channel, link)


class ChannelActor(Actor):
    """State: subscribers by socket id, the presence roster, and the membership strategy's
    own (see `membership_for`)."""

    def __init__(
        self,
        info: ChannelInfo,
        settings: ChannelSettings,
        on_empty: Callable[[ChannelActor], None],
        supervisor: Supervisor | None = None,
        routed: bool = True,
    ) -> None:
        """`routed` False: joins wait for `Routed` (the bus has not confirmed the topic)."""
        super().__init__(name=f"channel:{info.name}", supervisor=supervisor)
        if info.kind is ChannelKind.SERVER_TO_USER:
            # Internal to the server: no webhooks, and no subscription count for the user's
            # other sockets (they joined silently and know nothing of each other).
            settings = replace(settings, notifier=None, subscription_count_enabled=False)
        self.info = info
        self.settings = settings
        self._app_id = settings.app_id
        self._on_empty = on_empty
        self._notifier = settings.notifier
        self._unanswered: list[Subscriber] = []  # joins a stop dropped: see `on_dropped`
        self._held: list[Join] | None = None if routed else []  # joins awaiting `Routed`
        self.subscribers: dict[str, Subscriber] = {}
        self.roster: PresenceRoster | None = PresenceRoster() if info.is_presence else None
        self._plain_succeeded: bytes | None = None  # see _succeeded_frame
        self._membership: Membership = membership_for(self)
        # A cache channel's view of its API events (see `_send_cached`): how many it
        # delivered live and the last one's id, `_live` when each subscriber's cached event
        # was asked for, and which subscribers got which event from the cache before it
        # arrived live.
        self._live = 0
        self._last_live: str | None = None
        self._asked: dict[str, int] = {}
        self._cached_to: dict[str, set[str]] = {}

    # -- read-only snapshots (non-yielding; see docs/architecture.md "queries") --

    def stats(self) -> ChannelStats:
        user_count = len(self.roster) if self.roster is not None else None
        return ChannelStats(len(self.subscribers), user_count)

    def user_ids(self) -> list[str]:
        return self.roster.user_ids() if self.roster is not None else []

    def local_presence(self) -> dict[str, object]:
        """This node's members (user id -> info), for rewriting the cluster's state."""
        return self.roster.info() if self.roster is not None else {}

    @property
    def is_empty(self) -> bool:
        return not self.subscribers and not self._membership.pending and not self._held

    def state_summary(self) -> str:
        members = len(self.roster) if self.roster is not None else 0
        return f"channel={self.info.name} subscribers={len(self.subscribers)} members={members}"

    # -- messages --

    def receive(self, message: object) -> object:
        if isinstance(message, Broadcast):
            sender = message.sender
            if sender is not None and sender.socket_id not in self.subscribers:
                sender.fail(Err.CLIENT_EVENT_NOT_SUBSCRIBED, not_subscribed(self.info.name))
            elif message.member is not None:
                self._membership.member_event(
                    message.frame, message.member, message.except_socket_id
                )
            elif (
                sender is None
                and self.mailbox_depth
                and message[2:6] == _PLAIN
                and message.event_id not in self._cached_to
            ):
                self._broadcast_run(message)
            else:
                recipients = self._live_to(message.event_id)
                fan_out(self._app_id, recipients, message.frame, message.except_socket_id)
                if message.webhook is not None:
                    self.webhook(message.webhook)
                publish_across = self.settings.publish_across
                if message.relay is not None and publish_across is not None:
                    publish_across(
                        self._app_id, self.info.name, message.relay, message.except_socket_id
                    )
        elif isinstance(message, Join):
            if self._held is not None:
                self._held.append(message)
            else:
                self._join(message)
        elif isinstance(message, Leave):
            self._leave(message.subscriber)
        elif isinstance(message, Routed):
            self._join_held()
        elif isinstance(message, CachedEvent):
            self._send_cached(message)
        elif not self._membership.receive(message):
            raise TypeError(f"unexpected message {type(message).__name__}")
        if self.is_empty and not self.mailbox_depth:
            # Reported once the mail is read, whatever the message was: the app keeps a
            # channel that has mail queued (a join may be on its way), so a report made
            # earlier could be the last one (found by the soak).
            self._on_empty(self)
        return None

    def _join(self, join: Join) -> None:
        if join.member is not None:
            self._membership.join(join)
        else:
            self.admit(join)

    def _join_held(self) -> None:
        """Admit the joins that waited for `Routed`. Should one crash the channel, it and
        those behind it are no longer held anywhere: they go with the unanswered ones, so the
        release tells their sockets to reconnect (pusher-js has no subscribe timeout and
        would wait forever)."""
        held, self._held = self._held or [], None
        for done, join in enumerate(held):
            try:
                self._join(join)
            except BaseException:
                self._unanswered.extend(left.subscriber for left in held[done:])
                raise

    def _broadcast_run(self, first: Broadcast) -> None:
        """Send this plain broadcast together with the plain ones queued behind it that
        exclude the same socket (usually none), as one write per subscriber. A cache
        channel's event that some subscribers got from the cache already ends a run.

        They queue when a fan-out takes longer than the gap between publishes, and then the
        send system call is most of the cost of a delivery: a run of n costs one send per
        subscriber instead of n. It adds no delay, since nothing waits for a run to fill."""
        frame, except_socket_id = first.frame, first.except_socket_id
        size = len(frame)
        cached_to = self._cached_to

        def joinable(message: object) -> bool:
            nonlocal size
            if (
                type(message) is not Broadcast
                or message.except_socket_id != except_socket_id
                or message[2:6] != _PLAIN
                or message.event_id in cached_to
            ):
                return False
            size += len(message.frame)
            return size <= _RUN_BYTES

        run = cast(list[Broadcast], self.take_queued(joinable, _RUN_FRAMES))
        if run:
            frame = b"".join([frame, *(queued.frame for queued in run)])
        if self.info.is_cache:
            for broadcast in (first, *run):
                self._live_to(broadcast.event_id)
        fan_out(self._app_id, self.subscribers, frame, except_socket_id, 1 + len(run))

    def _live_to(self, event_id: str | None) -> Mapping[str, Subscriber]:
        """Who gets an event live: every subscriber but those that got this very API event
        from the cache already (`_send_cached`). Counts the API events delivered."""
        if event_id is None:
            return self.subscribers
        self._live += 1
        self._last_live = event_id
        cached = self._cached_to.pop(event_id, None) if self._cached_to else None
        if not cached:
            return self.subscribers
        return {sid: s for sid, s in self.subscribers.items() if sid not in cached}

    # -- what the membership strategy uses (see membership.Channel) --

    def broadcast(self, frame: bytes, except_socket_id: str | None = None) -> None:
        fan_out(self._app_id, self.subscribers, frame, except_socket_id)

    def send(self, subscriber: Subscriber, frame: bytes) -> None:
        send_one(self._app_id, subscriber, frame)

    def webhook(self, event: Event) -> None:
        """Tell the app's notifier (never waits), unless someone else sends this one."""
        notifier = self._notifier
        if notifier is not None and event["name"] not in self._membership.webhooks_elsewhere:
            notifier.notify(event)

    def admit(self, join: Join) -> None:
        """Subscribe as this node decides alone (its own roster and member limit).

        The subscriber (and its member) is added before anything about it is announced:
        a crash half-way through then finds it in the state it releases."""
        subscriber, member = join.subscriber, join.member
        socket_id = subscriber.socket_id
        if socket_id in self.subscribers:
            # A repeated subscribe is answered again, without changing membership.
            if not join.silent:
                self.send(subscriber, self._succeeded_frame())
            for frame in join.welcome:
                self.send(subscriber, frame)
            return
        roster = self.roster
        new_member = member is not None and roster is not None and member.user_id not in roster
        if new_member and len(roster) >= self.settings.max_presence_members:
            self.refuse_full(subscriber)
            return
        occupied = not self.subscribers
        self.add(join, roster if member is not None else None)
        if occupied:
            self.webhook(events.channel_occupied(self.info.name))
        if new_member:
            self._membership.member_added(member, socket_id)
        if join.silent:
            for frame in join.welcome:
                self.send(subscriber, frame)
            return
        self.send(subscriber, self._succeeded_frame())
        self.welcome(subscriber)

    def add(self, join: Join, listed: Iterable[str] | None) -> None:
        subscriber, member = join.subscriber, join.member
        socket_id = subscriber.socket_id
        self.subscribers[socket_id] = subscriber
        if member is not None and self.roster is not None:
            self.roster.add(socket_id, member)
        self._membership.added(socket_id, listed)

    def welcome(self, subscriber: Subscriber) -> None:
        if self.info.is_cache:
            key = cache_key(self._app_id, self.info.name)
            self._asked[subscriber.socket_id] = self._live
            answer = self.settings.cache.fetch(key, self, subscriber)
            if answer is not None:
                self._send_cached(answer)
        self._membership.welcomed()

    def refuse_full(self, subscriber: Subscriber) -> None:
        subscriber.refuse(self.info.name, Err.SUBSCRIPTION_PRESENCE_FULL)

    def presence_frame(self, members: dict[str, object]) -> bytes:
        ids = list(members)
        presence = {"ids": ids, "hash": members, "count": len(ids)}
        return frames.subscription_succeeded(self.info.name, presence)

    def notify_if_empty(self) -> None:
        """Outside `receive` (a release after a crash or a stop); `receive` reports itself."""
        if not self.subscribers:
            self._on_empty(self)

    # -- the rest of a subscriber's life --

    def _send_cached(self, answer: CachedEvent) -> None:
        """The cache channel's last event (or a miss) for a subscriber still here, unless
        the subscriber gets that event live as well.

        The cache and the live delivery are not in step: with other nodes an API event is
        cached once the bus took it, and delivered here when the bus brings it back (a
        Redis cache read answers later still). So an event that arrived live since the
        subscriber asked makes its answer redundant (that event, an older one, or one on
        its way here). An event sent from the cache that has not yet arrived live is
        remembered by its id, and that subscriber is left out when it arrives."""
        subscriber = cast(Subscriber, answer.token)
        socket_id = subscriber.socket_id
        asked = self._asked.pop(socket_id, self._live)
        if self.subscribers.get(socket_id) is not subscriber:
            return
        name = self.info.name
        if answer.payload is None:
            self.send(subscriber, text_frame(frames.cache_miss(name)))
            self.webhook(events.cache_miss(name))
            return
        if asked != self._live:
            return
        self.send(subscriber, text_frame(answer.payload))
        event_id = answer.event_id
        if event_id is not None and event_id != self._last_live:
            self._cached_ahead(event_id, socket_id)

    def _cached_ahead(self, event_id: str, socket_id: str) -> None:
        cached_to = self._cached_to
        sockets = cached_to.get(event_id)
        if sockets is None:
            if len(cached_to) >= _CACHED_AHEAD_KEPT:
                del cached_to[next(iter(cached_to))]
            sockets = cached_to[event_id] = set()
        sockets.add(socket_id)

    def _leave(self, subscriber: Subscriber) -> None:
        socket_id = subscriber.socket_id
        if self._held:
            kept = [join for join in self._held if join.subscriber.socket_id != socket_id]
            if len(kept) < len(self._held):
                self._held = kept
                return
        if self._membership.cancel_join(socket_id):
            return
        if self.subscribers.pop(socket_id, None) is None:
            return
        self._asked.pop(socket_id, None)
        for sockets in self._cached_to.values():
            sockets.discard(socket_id)
        user_id = self.roster.remove(socket_id) if self.roster is not None else None
        if user_id is not None:
            self._membership.member_left(user_id)
        self._membership.removed(socket_id)
        if not self.subscribers:
            self.webhook(events.channel_vacated(self.info.name))

    def _succeeded_frame(self) -> bytes:
        """subscription_succeeded, framed; without members it is the same bytes for every
        subscriber, encoded once (a connection storm subscribes thousands)."""
        if self.roster is not None:
            return text_frame(self.presence_frame(self.roster.info()))
        if self._plain_succeeded is None:
            self._plain_succeeded = text_frame(frames.subscription_succeeded(self.info.name))
        return self._plain_succeeded

    # -- after a crash (see the module docstring) --

    def on_restart(self, error: BaseException) -> None:
        self._release()

    def on_stop(self) -> None:
        """Retired empty, this releases nothing; stopped by its app's crash or its own
        crash loop, it releases what it still holds."""
        self._release()

    def on_dropped(self, message: object) -> None:
        """A join a stop dropped unanswered: its socket is told to reconnect with the rest."""
        if isinstance(message, Join):
            self._unanswered.append(message.subscriber)

    def _release(self) -> None:
        """Start over empty; the old state's subscribers (and sockets whose join it never
        answered) are closed with 4200, and its members and occupancy announced gone."""
        old_subscribers, old_roster, old = self.subscribers, self.roster, self._membership
        closing = {s.socket_id: s for s in old_subscribers.values()}
        closing.update((sid, join.subscriber) for sid, join in old.pending.items())
        closing.update((s.socket_id, s) for s in self._unanswered)
        self._unanswered = []
        if self._held:
            closing.update((join.subscriber.socket_id, join.subscriber) for join in self._held)
            self._held = []  # still awaiting `Routed`
        if not closing and not old_roster:
            return
        self.subscribers = {}
        self.roster = PresenceRoster() if self.info.is_presence else None
        self._membership = old.renewed()
        self._asked, self._cached_to = {}, {}
        members = old_roster.user_ids() if old_roster else []
        log.warning(
            "channel %s released: %d sockets told to reconnect, %d members removed",
            self.info.name,
            len(closing),
            len(members),
        )
        old.release(members, occupied=bool(old_subscribers))
        for subscriber in closing.values():
            subscriber.close_with(Err.CHANNEL_RESTARTED)
        self.notify_if_empty()
