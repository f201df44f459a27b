"""ClusterState: the one actor per node that reads and writes the cluster's shared state.

Channel and app actors `tell` it what changed here and never wait for Redis; HTTP views `ask`
it questions that need every node's answer. It also keeps this node alive in the node registry
(a heartbeat) and reaps nodes whose heartbeat expired: their subscriptions and presence members
are removed and the member_removed / channel_vacated they imply are sent, exactly once, by
whichever live node takes the dead node's reap lock.

Events it decides (occupied, vacated, member_added, member_removed) go out through `Host`:
a publish reaches local subscribers and every other node; a webhook is queued here only, so
each cluster-wide transition produces one webhook.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
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


class Host(Protocol):
    """What the cluster actor needs of its node (all non-blocking except `snapshot`)."""

    def publish(
        self, app_id: str, channel: str, payload: bytes, except_socket_id: str | None
    ) -> None: ...

    def notify(self, app_id: str, event: Event) -> None: ...

    def remote_connections(self, app_id: str, count: int) -> None: ...

    def snapshot(self) -> list[AppSnapshot]: ...


@dataclass(frozen=True, slots=True)
class _Beat:
    pass


class ClusterState(Actor):
    """State: the node id, the apps it wrote state for, whether Redis must be rewritten."""

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
        self._apps: set[str] = set()
        self._stale = False  # a write failed or we were reaped: rewrite everything
        self._failures = 0
        self._subscriptions = client.register_script(scripts.SUBSCRIPTIONS)
        self._join = client.register_script(scripts.JOIN)
        self._leave = client.register_script(scripts.LEAVE)
        self._reap_presence = client.register_script(scripts.REAP_PRESENCE)

    def state_summary(self) -> str:
        return f"cluster node={self.node_id} apps={len(self._apps)} stale={self._stale}"

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
            if isinstance(message, PresenceJoin):
                message.reply_to.tell(PresenceJoined(message.token, None))
            elif isinstance(message, PresenceLeave):
                self._member_removed(message.app_id, message.channel, message.user_id)
            elif isinstance(message, ChannelsQuery | ChannelQuery | UsersQuery):
                raise ClusterUnavailable(str(error)) from error
            return None
        self._failures = 0
        return result

    def _failed(self, error: redis.RedisError) -> None:
        self._stale = True
        self._failures += 1
        if self._failures == 1 or self._failures % 100 == 0:
            log.warning("cluster state: redis failed (%d in a row): %s", self._failures, error)

    # -- writes --

    def _register_app(self, app_id: str) -> None:
        if app_id not in self._apps:
            self._redis.sadd(self._keys.node_apps(self.node_id), app_id)
            self._apps.add(app_id)

    def _channel_count(self, message: ChannelCount) -> None:
        self._register_app(message.app_id)
        app, name = message.app_id, message.channel
        change = self._subscriptions(
            keys=[
                self._keys.app(app, "subs", name),
                self._keys.app(app, "node", self.node_id, "channels"),
            ],
            args=[self.node_id, name, message.count],
        )
        self._transition(app, name, int(change))

    def _transition(self, app_id: str, channel: str, change: int) -> None:
        if change > 0:
            self._host.notify(app_id, events.channel_occupied(channel))
        elif change < 0:
            self._host.notify(app_id, events.channel_vacated(channel))

    def _connection_count(self, message: ConnectionCount) -> None:
        self._register_app(message.app_id)
        key = self._keys.app(message.app_id, "connections")
        if message.count:
            self._redis.hset(key, self.node_id, message.count)
        else:
            self._redis.hdel(key, self.node_id)

    def _presence_join(self, message: PresenceJoin) -> None:
        self._register_app(message.app_id)
        reply = self._join(
            keys=self._presence_keys(message.app_id, message.channel),
            args=[
                self.node_id,
                message.user_id,
                orjson.dumps(message.user_info),
                message.max_members,
                message.channel,
            ],
        )
        status = int(reply[0])
        if status == 0:
            message.reply_to.tell(PresenceJoined(message.token, None, refused=True))
            return
        members = {reply[i]: orjson.loads(reply[i + 1]) for i in range(1, len(reply), 2)}
        message.reply_to.tell(PresenceJoined(message.token, members))
        if status == 1:
            self._member_added(
                message.app_id,
                message.channel,
                message.user_id,
                message.user_info,
                message.except_socket_id,
            )

    def _presence_leave(self, message: PresenceLeave) -> None:
        keys = self._presence_keys(message.app_id, message.channel)
        if self._leave(keys=keys, args=[self.node_id, message.user_id, message.channel]):
            self._member_removed(message.app_id, message.channel, message.user_id)

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

    # -- heartbeat, reaping, resync --

    def _beat(self, _message: _Beat | None = None) -> None:
        self.tell_later(self._timeout / BEATS_PER_TIMEOUT, _Beat())
        now_ms = int(self._clock() * 1000)
        added = self._redis.zadd(self._keys.nodes(), {self.node_id: now_ms + self._timeout * 1000})
        if added and self._apps:
            self._stale = True  # other nodes reaped us while we could not reach Redis
        if self._stale:
            self._resync()
        for dead in self._redis.zrangebyscore(self._keys.nodes(), "-inf", now_ms):
            if self._redis.set(self._keys.reap_lock(dead), self.node_id, nx=True, ex=60):
                log.warning("cluster: node %s stopped beating; removing its state", dead)
                self._reap(dead)
        live = self._live_nodes()
        for app_id in self._apps:
            counts = self._redis.hgetall(self._keys.app(app_id, "connections"))
            others = sum(
                int(n) for node, n in counts.items() if node in live and node != self.node_id
            )
            self._host.remote_connections(app_id, others)

    def _reap(self, node: str) -> None:
        """Remove `node`'s state and send what its departure means (also our own at stop)."""
        for app_id in self._redis.smembers(self._keys.node_apps(node)):
            node_channels = self._keys.app(app_id, "node", node, "channels")
            for name in self._redis.hkeys(node_channels):
                change = self._subscriptions(
                    keys=[self._keys.app(app_id, "subs", name), node_channels],
                    args=[node, name, 0],
                )
                self._transition(app_id, name, int(change))
            node_presence = self._keys.app(app_id, "node", node, "presence")
            for name in self._redis.smembers(node_presence):
                presence = self._keys.app(app_id, "presence", name)
                for user_id in self._reap_presence(keys=[presence], args=[node]):
                    self._member_removed(app_id, name, user_id)
            self._redis.hdel(self._keys.app(app_id, "connections"), node)
            self._redis.delete(node_channels, node_presence)
        self._redis.delete(self._keys.node_apps(node))
        self._redis.zrem(self._keys.nodes(), node)

    def _resync(self) -> None:
        """Make Redis match this node's actors again, after an outage or after other nodes
        reaped us. Each difference goes through the same scripts as a live change, so the
        subscribers and webhooks see exactly the transitions that really happened."""
        log.info("cluster: rewriting this node's shared state")
        snapshots = {snap.app_id: snap for snap in self._host.snapshot()}
        app_ids = set(snapshots) | set(self._redis.smembers(self._keys.node_apps(self.node_id)))
        self._apps.clear()  # re-registers each app: a reap deleted our set of apps
        for app_id in app_ids:
            snap = snapshots.get(app_id) or AppSnapshot(app_id, 0, {}, {})
            self._connection_count(ConnectionCount(app_id, snap.connections))
            node_channels = self._keys.app(app_id, "node", self.node_id, "channels")
            for name in set(self._redis.hkeys(node_channels)) | set(snap.channels):
                self._channel_count(ChannelCount(app_id, name, snap.channels.get(name, 0)))
            node_presence = self._keys.app(app_id, "node", self.node_id, "presence")
            for name in set(self._redis.smembers(node_presence)) | set(snap.presence):
                self._resync_presence(app_id, name, snap.presence.get(name, {}))
        self._stale = False

    def _resync_presence(self, app_id: str, channel: str, members: dict[str, object]) -> None:
        prefix = f"{self.node_id}|"
        fields = self._redis.hkeys(self._keys.app(app_id, "presence", channel))
        for field in fields:
            user_id = field[len(prefix) :]
            if field.startswith(prefix) and user_id not in members:
                self._presence_leave(PresenceLeave(app_id, channel, user_id))
        for user_id, info in members.items():
            reply = self._join(
                keys=self._presence_keys(app_id, channel),
                args=[self.node_id, user_id, orjson.dumps(info), 0, channel],
            )
            if int(reply[0]) == 1:
                self._member_added(app_id, channel, user_id, info, None)

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
        for field in self._redis.hkeys(self._keys.app(app_id, "presence", channel)):
            node, _, user_id = field.partition("|")
            if node in live:
                ids.add(user_id)
        return ids

    _handlers = {
        _Beat: _beat,
        ChannelCount: _channel_count,
        ConnectionCount: _connection_count,
        PresenceJoin: _presence_join,
        PresenceLeave: _presence_leave,
        ChannelsQuery: _channels,
        ChannelQuery: _channel,
        UsersQuery: _users,
    }
