"""This node's share of the cluster state: the live writes, and the mirror of what they wrote.

Every change runs one of the scripts (scripts.py), so the transition it causes (occupied,
member_added, ...) is decided once cluster-wide and announced here by the node that caused
it. The mirror keeps what this node last wrote per app: when Redis loses it (a restart, a
reap) it is written again from there (recovery.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import orjson
import redis

from socketrush.cluster import scripts
from socketrush.cluster.host import Host, announce_transition
from socketrush.cluster.messages import ChannelCount, CountWritten
from socketrush.redis_client import RedisKeys

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Mirror:
    """What this node last wrote to Redis for one app (connections: as the app counted
    them; reserved: reservations the app has not counted yet)."""

    connections: int = 0
    reserved: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    presence: dict[str, dict[str, object]] = field(default_factory=dict)


class Writer:
    """Used by the cluster actor's greenlet only. Every method that writes may raise
    `redis.RedisError`; the actor decides what a failure means (journal, fail open)."""

    def __init__(self, client: redis.Redis, keys: RedisKeys, node_id: str, host: Host) -> None:
        self.node_id = node_id
        self.apps: set[str] = set()  # apps registered in Redis for this node (for its reaper)
        self.mirrors: dict[str, Mirror] = {}
        self._redis = client
        self._keys = keys
        self._host = host
        self._subscriptions = client.register_script(scripts.SUBSCRIPTIONS)
        self._reserve = client.register_script(scripts.RESERVE_CONNECTION)
        self._join = client.register_script(scripts.JOIN)
        self._leave = client.register_script(scripts.LEAVE)

    def mirror_of(self, app_id: str) -> Mirror:
        mirror = self.mirrors.get(app_id)
        if mirror is None:
            mirror = self.mirrors[app_id] = Mirror()
        return mirror

    def register_app(self, app_id: str) -> None:
        if app_id not in self.apps:
            self._redis.sadd(self._keys.node_apps(self.node_id), app_id)
            self.apps.add(app_id)

    # -- subscriptions --

    def write_count(self, change: ChannelCount) -> None:
        """Write this node's count of a channel, announce the occupied/vacated it caused and,
        if the channel asked for it, the new cluster-wide count. The channel learns that
        count's version first: its new subscribers take no older count meanwhile."""
        app_id, channel, count = change.app_id, change.channel, change.count
        transition, total, version, before = self._write_subscriptions(app_id, channel, count)
        channels = self.mirror_of(app_id).channels
        if count:
            channels[channel] = count
        else:
            channels.pop(channel, None)
        announce_transition(self._host, app_id, channel, transition)
        # A repeated write of the same count (a replay, a reconcile) changes no total.
        announced = change.announce and total > 0 and before != count
        if change.reply_to is not None:
            change.reply_to.tell(CountWritten(change.seq, version if announced else None))
        if announced:
            self._host.announce_count(app_id, channel, total, version)

    def restore_count(self, app_id: str, channel: str, count: int) -> None:
        """Write a mirrored count again, announcing nothing: Redis lost it, and no node
        announced the loss."""
        self._write_subscriptions(app_id, channel, count)

    def _write_subscriptions(
        self, app_id: str, channel: str, count: int
    ) -> tuple[int, int, int, int]:
        """Run SUBSCRIPTIONS: (transition, total, version, this node's count before)."""
        self.register_app(app_id)
        reply = self._subscriptions(
            keys=scripts.subscription_keys(self._keys, app_id, self.node_id, channel),
            args=[self.node_id, channel, count],
        )
        transition, total, version, before = (int(n) for n in reply)
        return transition, total, version, before

    # -- connections --

    def count_connections(self, app_id: str, count: int, reserved: bool) -> None:
        """The app's count as it reported it; a reserved connect settles one reservation."""
        mirror = self.mirror_of(app_id)
        mirror.connections = count
        if reserved:
            mirror.reserved = max(0, mirror.reserved - 1)

    def write_connections(self, app_id: str) -> None:
        self.register_app(app_id)
        mirror = self.mirror_of(app_id)
        key, count = self._keys.app(app_id, "connections"), mirror.connections + mirror.reserved
        if count:
            self._redis.hset(key, self.node_id, count)
        else:
            self._redis.hdel(key, self.node_id)

    def reserve(self, app_id: str, limit: int, deadline: float) -> bool | None:
        """Count one more connection here if the cluster stays within `limit`, in one script,
        so two nodes admitting at once cannot both take the last place. None: admitted, but
        after `deadline`, when the asker had given up and counts it itself."""
        self.register_app(app_id)
        mirror = self.mirror_of(app_id)
        mine = mirror.connections + mirror.reserved + 1
        key = self._keys.app(app_id, "connections")
        if not self._reserve(keys=[key], args=[self.node_id, mine, limit]):
            return False
        if time.monotonic() >= deadline:
            self.write_connections(app_id)  # undo: the count in Redis is the mirror's again
            return None
        mirror.reserved += 1
        return True

    # -- presence --

    def write_join(
        self, app_id: str, channel: str, user_id: str, info: object, max_members: int
    ) -> tuple[int, dict[str, object]]:
        """Run JOIN; returns its status (0 refused, 1 new, 2 already a member) and members."""
        self.register_app(app_id)
        reply = self._join(
            keys=scripts.presence_keys(self._keys, app_id, self.node_id, channel),
            args=[self.node_id, user_id, orjson.dumps(info), max_members, channel],
        )
        status = int(reply[0])
        if status:
            self.mirror_of(app_id).presence.setdefault(channel, {})[user_id] = info
        members = {
            reply[i]: _user_info(channel, reply[i], reply[i + 1]) for i in range(1, len(reply), 2)
        }
        return status, members

    def write_leave(self, app_id: str, channel: str, user_id: str) -> bool:
        """Run LEAVE; True when that was the user's last field (member_removed is due)."""
        gone = self._leave(
            keys=scripts.presence_keys(self._keys, app_id, self.node_id, channel),
            args=[self.node_id, user_id, channel],
        )
        presence = self.mirror_of(app_id).presence
        members = presence.get(channel, {})
        members.pop(user_id, None)
        if not members:
            presence.pop(channel, None)
        return bool(gone)


def _user_info(channel: str, user_id: str, stored: str) -> object:
    """A member's user_info as JOIN stored it. A value that is not JSON (only a hand-edited key
    can hold one) lists the member without info rather than failing the join, which would
    leave the joining client waiting for subscription_succeeded."""
    try:
        return orjson.loads(stored)
    except orjson.JSONDecodeError:
        log.warning("presence member %s of %s has invalid user_info in Redis", user_id, channel)
        return None
