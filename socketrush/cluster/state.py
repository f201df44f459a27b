"""ClusterState: the one actor per node that reads and writes the cluster's shared state.

Channel and app actors `tell` it what changed here and never wait for Redis; HTTP views and
connecting sockets `ask` it what needs every node's answer. It also keeps this node alive in
the node registry (a heartbeat) and reaps nodes whose heartbeat expired: their subscriptions
and presence members are removed and the member_removed / channel_vacated they imply are
sent, exactly once, by whichever live node takes the dead node's reap lock.

Events it decides (occupied, vacated, member_added, member_removed, subscription_count) go
out through `Host`: a publish reaches local subscribers and every other node; a webhook is
queued here only, so each cluster-wide transition produces one webhook.

Redis outages: the actor keeps a mirror of what it last wrote for this node. While a write
fails, the changes that can be transitions are journaled (bounded); when Redis answers again
it restores the mirror if Redis lost it (silently after a restart: nobody announced its loss;
with events after a reap: the other nodes did), waits a few beats after a silent restore so
every node has restored its own, replays the journal through the same scripts so the
transitions of the outage are announced then, and finally compares the mirror with the
actors' snapshot, which settles whatever a full journal dropped.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import orjson
import redis

from actors import Actor
from socketrush.channel import ChannelStats
from socketrush.cluster import scripts
from socketrush.cluster.messages import (
    AppSnapshot,
    ChannelCount,
    ChannelQuery,
    ChannelsQuery,
    ClusterUnavailable,
    ConnectionCount,
    PresenceJoin,
    PresenceJoined,
    PresenceLeave,
    ReserveConnection,
    UsersQuery,
)
from socketrush.protocol import frames
from socketrush.protocol.channels import classify
from socketrush.redis_client import RedisKeys
from socketrush.webhooks import events
from socketrush.webhooks.events import Event

log = logging.getLogger(__name__)

DEFAULT_NODE_TIMEOUT_SECONDS = 10.0
BEATS_PER_TIMEOUT = 4  # a dead node is reaped within timeout * (1 + 1/BEATS_PER_TIMEOUT)
JOURNAL_LIMIT = 10_000  # changes kept while Redis is unreachable; older ones are dropped
# After Redis lost everything, every live node restores its own state within one beat; a
# journal replayed before the others restored would see channels and members as gone.
SETTLE_BEATS = 2


class Host(Protocol):
    """What the cluster actor needs of its node (all non-blocking except `snapshot`)."""

    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        local_only: bool = False,
    ) -> None: ...

    def announce_count(self, app_id: str, channel: str, total: int, version: int) -> None:
        """The cluster-wide subscription count, to every node's subscribers, and its webhook
        once; nothing if the app does not count subscriptions."""

    def notify(self, app_id: str, event: Event) -> None: ...

    def remote_connections(self, app_id: str, count: int) -> None: ...

    def snapshot(self) -> list[AppSnapshot]: ...


@dataclass(frozen=True, slots=True)
class _Beat:
    pass


@dataclass(slots=True)
class _Mirror:
    """What this node last wrote to Redis for one app (connections: as the app counted
    them; reserved: reservations the app has not counted yet)."""

    connections: int = 0
    reserved: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    presence: dict[str, dict[str, object]] = field(default_factory=dict)


_Journaled = ChannelCount | PresenceJoin | PresenceLeave


class ClusterState(Actor):
    """State: the node id, the mirror of this node's shared state, the journal of changes
    Redis has not seen, the Redis epoch it wrote under."""

    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        node_id: str,
        host: Host,
        node_timeout: float = DEFAULT_NODE_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name="cluster-state")
        self.node_id = node_id
        self._redis = client
        self._keys = keys
        self._host = host
        self._timeout = node_timeout
        self._clock = clock
        self._apps: set[str] = set()  # apps registered in Redis for this node
        self._mirror: dict[str, _Mirror] = {}
        self._journal: deque[_Journaled] = deque(maxlen=JOURNAL_LIMIT)
        self._dropped = 0  # journal entries lost to the limit in this outage
        self._stale = False  # a write failed: journal until Redis answers, then recover
        self._restore: str | None = None  # "silent" | "loud": Redis lost our state
        self._settling = 0  # beats to wait after a silent restore before replaying
        self._epoch: str | None = None  # identifies the Redis data set we wrote to
        self._failures = 0
        self._reachable_since: float | None = None  # clock() when Redis last started answering
        self._quota_unchecked = False  # logged that reservations fail open
        self._subscriptions = client.register_script(scripts.SUBSCRIPTIONS)
        self._reserve = client.register_script(scripts.RESERVE_CONNECTION)
        self._join = client.register_script(scripts.JOIN)
        self._leave = client.register_script(scripts.LEAVE)
        self._reap_presence = client.register_script(scripts.REAP_PRESENCE)

    def state_summary(self) -> str:
        return (
            f"cluster node={self.node_id} apps={len(self._mirror)} stale={self._stale} "
            f"journal={len(self._journal)}"
        )

    def on_start(self) -> None:
        self.tell(_Beat())

    def on_stop(self) -> None:
        """A graceful stop leaves nothing for the reaper: local state was already removed
        by the disconnects; the registry entry and what is left go now."""
        try:
            self._reap(self.node_id)
        except redis.RedisError as error:
            log.warning("cluster: could not deregister node (it will be reaped): %s", error)

    def receive(self, message: object) -> object:
        handler = self._handlers.get(type(message))
        if handler is None:
            raise TypeError(f"unexpected message {type(message).__name__}")
        try:
            result = handler(self, message)
        except redis.RedisError as error:
            self._failed(error)
            if isinstance(message, ReserveConnection) and not self._quota_unchecked:
                log.warning("cluster: connection quotas are checked per node until redis answers")
                self._quota_unchecked = True
            elif isinstance(message, ChannelCount | PresenceJoin | PresenceLeave):
                self._journal_change(message)
            elif isinstance(message, ChannelsQuery | ChannelQuery | UsersQuery):
                raise ClusterUnavailable(str(error)) from error
            return None
        self._failures = 0
        return result

    def _failed(self, error: redis.RedisError) -> None:
        self._stale = True
        self._reachable_since = None
        self._failures += 1
        if self._failures == 1 or self._failures % 100 == 0:
            log.warning("cluster state: redis failed (%d in a row): %s", self._failures, error)

    def _mirror_of(self, app_id: str) -> _Mirror:
        mirror = self._mirror.get(app_id)
        if mirror is None:
            mirror = self._mirror[app_id] = _Mirror()
        return mirror

    # -- writes: live changes go to Redis, or to the journal while it is unreachable --

    def _register_app(self, app_id: str) -> None:
        if app_id not in self._apps:
            self._redis.sadd(self._keys.node_apps(self.node_id), app_id)
            self._apps.add(app_id)

    def _channel_count(self, message: ChannelCount) -> None:
        if self._stale:
            self._journal_change(message)
        else:
            self._write_count(message.app_id, message.channel, message.count, message.announce)

    def _write_count(self, app_id: str, channel: str, count: int, announce: bool) -> None:
        self._register_app(app_id)
        change, total, version, before = self._subscriptions(
            keys=[
                self._keys.app(app_id, "subs", channel),
                self._keys.app(app_id, "node", self.node_id, "channels"),
            ],
            args=[self.node_id, channel, count],
        )
        channels = self._mirror_of(app_id).channels
        if count:
            channels[channel] = count
        else:
            channels.pop(channel, None)
        self._transition(app_id, channel, int(change))
        # A repeated write of the same count (a replay, a reconcile) changes no total.
        if announce and int(total) > 0 and int(before) != count:
            self._host.announce_count(app_id, channel, int(total), int(version))

    def _transition(self, app_id: str, channel: str, change: int) -> None:
        if change > 0:
            self._host.notify(app_id, events.channel_occupied(channel))
        elif change < 0:
            self._host.notify(app_id, events.channel_vacated(channel))

    def _connection_count(self, message: ConnectionCount) -> None:
        mirror = self._mirror_of(message.app_id)
        mirror.connections = message.count
        if message.reserved:
            mirror.reserved = max(0, mirror.reserved - 1)
        if not self._stale:
            self._write_connections(message.app_id, mirror)

    def _write_connections(self, app_id: str, mirror: _Mirror) -> None:
        self._register_app(app_id)
        key, count = self._keys.app(app_id, "connections"), mirror.connections + mirror.reserved
        if count:
            self._redis.hset(key, self.node_id, count)
        else:
            self._redis.hdel(key, self.node_id)

    def _reserve_connection(self, message: ReserveConnection) -> bool | None:
        """Count one more connection here if the cluster stays within the app's limit, in
        one script, so two nodes admitting at once cannot both take the last place."""
        if self._stale or time.monotonic() >= message.deadline:
            if not self._quota_unchecked:
                log.warning("cluster: connection quotas are checked per node until redis answers")
                self._quota_unchecked = True
            return None
        self._register_app(message.app_id)
        mirror = self._mirror_of(message.app_id)
        mine = mirror.connections + mirror.reserved + 1
        key = self._keys.app(message.app_id, "connections")
        if not self._reserve(keys=[key], args=[self.node_id, mine, message.limit]):
            return False
        if time.monotonic() >= message.deadline:  # the asker gave up: it counts it itself
            self._write_connections(message.app_id, mirror)
            return None
        mirror.reserved += 1
        return True

    def _presence_join(self, message: PresenceJoin) -> None:
        if self._stale:
            self._journal_change(message)
            return
        status, members = self._write_join(
            message.app_id, message.channel, message.user_id, message.user_info, message.max_members
        )
        if status == 0:
            message.reply_to.tell(PresenceJoined(message.token, None, refused=True))
            return
        message.reply_to.tell(PresenceJoined(message.token, members))
        if status == 1:
            self._member_added(
                message.app_id,
                message.channel,
                message.user_id,
                message.user_info,
                message.except_socket_id,
            )

    def _write_join(
        self, app_id: str, channel: str, user_id: str, info: object, max_members: int
    ) -> tuple[int, dict[str, object]]:
        """Run JOIN; returns its status (0 refused, 1 new, 2 already a member) and members."""
        self._register_app(app_id)
        reply = self._join(
            keys=self._presence_keys(app_id, channel),
            args=[self.node_id, user_id, orjson.dumps(info), max_members, channel],
        )
        status = int(reply[0])
        if status:
            self._mirror_of(app_id).presence.setdefault(channel, {})[user_id] = info
        members = {reply[i]: orjson.loads(reply[i + 1]) for i in range(1, len(reply), 2)}
        return status, members

    def _presence_leave(self, message: PresenceLeave) -> None:
        if self._stale:
            self._journal_change(message)
        elif self._write_leave(message.app_id, message.channel, message.user_id):
            self._member_removed(message.app_id, message.channel, message.user_id)

    def _write_leave(self, app_id: str, channel: str, user_id: str) -> bool:
        """Run LEAVE; True when that was the user's last field (member_removed is due)."""
        keys = self._presence_keys(app_id, channel)
        gone = self._leave(keys=keys, args=[self.node_id, user_id, channel])
        presence = self._mirror_of(app_id).presence
        members = presence.get(channel, {})
        members.pop(user_id, None)
        if not members:
            presence.pop(channel, None)
        return bool(gone)

    def _presence_keys(self, app_id: str, channel: str) -> list[str]:
        return [
            self._keys.app(app_id, "presence", channel),
            self._keys.app(app_id, "node", self.node_id, "presence"),
        ]

    def _member_added(
        self, app_id: str, channel: str, user_id: str, info: object, except_socket_id: str | None
    ) -> None:
        payload = frames.member_added(channel, user_id, info)
        self._host.publish(app_id, channel, payload, except_socket_id)
        self._host.notify(app_id, events.member_added(channel, user_id))

    def _member_removed(self, app_id: str, channel: str, user_id: str) -> None:
        self._host.publish(app_id, channel, frames.member_removed(channel, user_id), None)
        self._host.notify(app_id, events.member_removed(channel, user_id))

    # -- the outage journal --

    def _journal_change(self, change: _Journaled) -> None:
        """Keep a change Redis has not seen, and do now what this node can do alone: a join
        is decided by the channel from its own members, a leave is announced here."""
        if len(self._journal) == self._journal.maxlen:
            if not self._dropped:
                log.warning(
                    "cluster: journal full (%d changes); dropping the oldest, the final "
                    "comparison after the outage settles their net effect",
                    JOURNAL_LIMIT,
                )
            self._dropped += 1
        self._journal.append(change)
        if isinstance(change, PresenceJoin):
            change.reply_to.tell(PresenceJoined(change.token, None))
        elif isinstance(change, PresenceLeave):
            payload = frames.member_removed(change.channel, change.user_id)
            self._host.publish(change.app_id, change.channel, payload, None, local_only=True)

    def _recover(self) -> None:
        """Bring Redis up to date after an outage (see the module docstring), one step per
        beat where the other nodes must catch up. Each step is safe to repeat: Redis failing
        half-way leaves the rest for the next beat."""
        if self._restore is not None:
            loud = self._restore == "loud"
            log.warning("cluster: redis lost this node's state; restoring it")
            self._apps.clear()
            for app_id, mirror in list(self._mirror.items()):
                self._restore_app(app_id, mirror, loud)
            self._restore = None
            if not loud:
                self._settling = SETTLE_BEATS
        if self._settling:
            self._settling -= 1
            return
        if self._journal:
            log.info(
                "cluster: replaying %d changes made while redis was unreachable", len(self._journal)
            )
        last_counts = {
            (c.app_id, c.channel): c for c in self._journal if isinstance(c, ChannelCount)
        }
        while self._journal:
            self._replay(self._journal[0], last_counts)
            self._journal.popleft()
        if self._dropped:
            log.warning("cluster: %d changes of the outage were dropped", self._dropped)
            self._dropped = 0
        self._reconcile()
        self._stale = False
        self._quota_unchecked = False

    def _restore_app(self, app_id: str, mirror: _Mirror, loud: bool) -> None:
        self._write_connections(app_id, mirror)
        for channel, count in list(mirror.channels.items()):
            change, *_ = self._subscriptions(
                keys=[
                    self._keys.app(app_id, "subs", channel),
                    self._keys.app(app_id, "node", self.node_id, "channels"),
                ],
                args=[self.node_id, channel, count],
            )
            if loud:
                self._transition(app_id, channel, int(change))
        for channel, members in list(mirror.presence.items()):
            for user_id, info in list(members.items()):
                status, _ = self._write_join(app_id, channel, user_id, info, 0)
                if loud and status == 1:
                    self._member_added(app_id, channel, user_id, info, None)

    def _replay(self, change: _Journaled, last_counts: dict[tuple[str, str], ChannelCount]) -> None:
        if isinstance(change, ChannelCount):
            last = last_counts.get((change.app_id, change.channel)) is change
            self._write_count(change.app_id, change.channel, change.count, change.announce and last)
        elif isinstance(change, PresenceJoin):
            status, _ = self._write_join(
                change.app_id, change.channel, change.user_id, change.user_info, 0
            )
            if status == 1:
                self._member_added(
                    change.app_id, change.channel, change.user_id, change.user_info, None
                )
        elif self._write_leave(change.app_id, change.channel, change.user_id):
            self._member_removed(change.app_id, change.channel, change.user_id)

    def _reconcile(self) -> None:
        """Make Redis match the actors: each difference goes through the same scripts as a
        live change, so subscribers and webhooks see the transitions that really happened."""
        snapshots = {snap.app_id: snap for snap in self._host.snapshot()}
        for app_id in set(snapshots) | set(self._mirror):
            snap = snapshots.get(app_id) or AppSnapshot(app_id, 0, {}, {})
            mirror = self._mirror_of(app_id)
            mirror.connections = snap.connections
            self._write_connections(app_id, mirror)
            for channel in set(mirror.channels) | set(snap.channels):
                count = snap.channels.get(channel, 0)
                if mirror.channels.get(channel, 0) != count:
                    self._write_count(app_id, channel, count, False)
            for channel in set(mirror.presence) | set(snap.presence):
                wanted = snap.presence.get(channel, {})
                for user_id in set(mirror.presence.get(channel, {})) - set(wanted):
                    if self._write_leave(app_id, channel, user_id):
                        self._member_removed(app_id, channel, user_id)
                for user_id, info in wanted.items():
                    if user_id not in mirror.presence.get(channel, {}):
                        status, _ = self._write_join(app_id, channel, user_id, info, 0)
                        if status == 1:
                            self._member_added(app_id, channel, user_id, info, None)

    # -- heartbeat, reaping --

    def _beat(self, _message: _Beat | None = None) -> None:
        self.tell_later(self._timeout / BEATS_PER_TIMEOUT, _Beat())
        now = self._clock()
        now_ms = int(now * 1000)
        added = self._redis.zadd(self._keys.nodes(), {self.node_id: now_ms + self._timeout * 1000})
        if self._reachable_since is None:
            self._reachable_since = now
        self._check_epoch(bool(added))
        if self._stale or self._restore is not None:
            self._recover()
        if now - self._reachable_since >= self._timeout:
            self._reap_expired(now_ms)
        live = self._live_nodes()
        for app_id in self._apps:
            counts = self._redis.hgetall(self._keys.app(app_id, "connections"))
            others = sum(
                int(n) for node, n in counts.items() if node in live and node != self.node_id
            )
            self._host.remote_connections(app_id, others)

    def _reap_expired(self, now_ms: int) -> None:
        """Reap nodes whose heartbeat expired. Only a node that has reached Redis for a whole
        timeout judges: after an outage every node's heartbeat looks expired until it beats."""
        for dead in self._redis.zrangebyscore(self._keys.nodes(), "-inf", now_ms):
            if self._redis.set(self._keys.reap_lock(dead), self.node_id, nx=True, ex=60):
                log.warning("cluster: node %s stopped beating; removing its state", dead)
                self._reap(dead)

    def _check_epoch(self, added: bool) -> None:
        """Tell a Redis that lost its data (restarted empty: a new epoch) from one where the
        other nodes reaped us (same epoch, but we were gone from the registry)."""
        key = epoch_key(self._keys)
        self._redis.set(key, uuid.uuid4().hex, nx=True)
        epoch = self._redis.get(key)
        if self._epoch is not None and epoch != self._epoch:
            self._restore = "silent"
            self._stale = True
        elif self._epoch is not None and added and self._restore is None:
            log.warning("cluster: the other nodes reaped this node; announcing it again")
            self._restore = "loud"
            self._stale = True
        self._epoch = epoch

    def _reap(self, node: str) -> None:
        """Remove `node`'s state and send what its departure means (also our own at stop)."""
        for app_id in self._redis.smembers(self._keys.node_apps(node)):
            node_channels = self._keys.app(app_id, "node", node, "channels")
            for name in self._redis.hkeys(node_channels):
                change, total, version, _ = self._subscriptions(
                    keys=[self._keys.app(app_id, "subs", name), node_channels],
                    args=[node, name, 0],
                )
                self._transition(app_id, name, int(change))
                if int(total) > 0 and not classify(name).is_presence:
                    # the survivors' subscribers and webhooks learn the smaller total now,
                    # as they would from a disconnect (only where the app enables counts)
                    self._host.announce_count(app_id, name, int(total), int(version))
            node_presence = self._keys.app(app_id, "node", node, "presence")
            for name in self._redis.smembers(node_presence):
                presence = self._keys.app(app_id, "presence", name)
                for user_id in self._reap_presence(keys=[presence], args=[node]):
                    self._member_removed(app_id, name, user_id)
            self._redis.hdel(self._keys.app(app_id, "connections"), node)
            self._redis.delete(node_channels, node_presence)
        self._redis.delete(self._keys.node_apps(node))
        self._redis.zrem(self._keys.nodes(), node)

    # -- queries: only live nodes count, so a dead node stops counting at its expiry --

    def _live_nodes(self) -> set[str]:
        now_ms = int(self._clock() * 1000)
        return set(self._redis.zrangebyscore(self._keys.nodes(), now_ms, "+inf"))

    def _channels(self, message: ChannelsQuery) -> dict[str, ChannelStats]:
        totals: dict[str, int] = {}
        for node in self._live_nodes():
            node_channels = self._keys.app(message.app_id, "node", node, "channels")
            for name, count in self._redis.hgetall(node_channels).items():
                if name.startswith(message.prefix) and not name.startswith("#"):
                    totals[name] = totals.get(name, 0) + int(count)
        return {
            name: self._stats(message.app_id, name, count, message.with_user_count)
            for name, count in totals.items()
        }

    def _channel(self, message: ChannelQuery) -> ChannelStats | None:
        live = self._live_nodes()
        counts = self._redis.hgetall(self._keys.app(message.app_id, "subs", message.name))
        total = sum(int(n) for node, n in counts.items() if node in live)
        return self._stats(message.app_id, message.name, total, True) if total else None

    def _stats(self, app_id: str, name: str, count: int, with_users: bool) -> ChannelStats:
        users = None
        if with_users and classify(name).is_presence:
            users = len(self._user_ids(app_id, name))
        return ChannelStats(count, users)

    def _users(self, message: UsersQuery) -> list[str]:
        return sorted(self._user_ids(message.app_id, message.name))

    def _user_ids(self, app_id: str, channel: str) -> set[str]:
        live = self._live_nodes()
        ids = set()
        for entry in self._redis.hkeys(self._keys.app(app_id, "presence", channel)):
            node, _, user_id = entry.partition("|")
            if node in live:
                ids.add(user_id)
        return ids

    _handlers = {
        _Beat: _beat,
        ChannelCount: _channel_count,
        ConnectionCount: _connection_count,
        ReserveConnection: _reserve_connection,
        PresenceJoin: _presence_join,
        PresenceLeave: _presence_leave,
        ChannelsQuery: _channels,
        ChannelQuery: _channel,
        UsersQuery: _users,
    }


def epoch_key(keys: RedisKeys) -> str:
    """A random id the first node writes into an empty Redis (beside the node registry)."""
    return f"{{{keys.prefix}}}:epoch"
