"""The cluster state in Redis: hashes per app (one Redis Cluster slot) changed by Lua scripts.

Keys (per app): `subs:<channel>` node -> local subscribers; `node:<node>:channels` channel ->
count (for listings and the reaper); `presence:<channel>` field `<node>|<user>` -> user_info;
`node:<node>:presence` set of channels; `connections` node -> count. Global (one slot):
`{P}:nodes` zset node -> heartbeat expiry; `{P}:node:<node>:apps`; `{P}:epoch`;
`{P}:reap:<node>`, a reaper's lock. The scripts (scripts.py) decide each transition inside
Redis, so two nodes cannot both decide it.
"""

from __future__ import annotations

import logging
import uuid

import orjson
import redis

from socketrush.cluster import scripts
from socketrush.cluster.store import ClusterStore, Joined, SubscriptionsWritten
from socketrush.redis_client import RedisKeys

log = logging.getLogger(__name__)

_warned: set[tuple[str, str]] = set()  # (key, field) whose bad count was logged already


def count_in(key: str, field: str, value: str) -> int:
    """A count another node wrote to hash `key`. Nodes only write integers, so anything else
    is a hand edit or corruption: it counts as 0, logged once, rather than failing every
    heartbeat and query until someone repairs it."""
    try:
        return int(value)
    except ValueError:
        if (key, field) not in _warned:
            _warned.add((key, field))
            log.warning("cluster: %s[%s] is not a count (%r); counting it as 0", key, field, value)
        return 0


def user_info(channel: str, user_id: str, stored: str | bytes) -> object:
    """A member's user_info as a join stored it. A value that is not JSON (only a hand-edited
    entry can hold one) lists the member without info rather than failing the join, which
    would leave the joining client waiting for subscription_succeeded."""
    try:
        return orjson.loads(stored)
    except orjson.JSONDecodeError:
        log.warning("presence member %s of %s has invalid user_info in the store", user_id, channel)
        return None


class RedisStore(ClusterStore):
    """`client` must decode responses (str, not bytes)."""

    errors = (redis.RedisError,)

    def __init__(self, client: redis.Redis, keys: RedisKeys) -> None:
        self.client = client  # also read by tests that look at the keys
        self.keys = keys
        self._subscriptions = client.register_script(scripts.SUBSCRIPTIONS)
        self._reserve = client.register_script(scripts.RESERVE_CONNECTION)
        self._join = client.register_script(scripts.JOIN)
        self._leave = client.register_script(scripts.LEAVE)
        self._reap_presence = client.register_script(scripts.REAP_PRESENCE)

    # -- node registry --

    def beat(self, node: str, expires_ms: int) -> bool:
        return bool(self.client.zadd(self.keys.nodes(), {node: expires_ms}))

    def epoch(self) -> str:
        key = f"{{{self.keys.prefix}}}:epoch"  # beside the node registry
        self.client.set(key, uuid.uuid4().hex, nx=True)
        return self.client.get(key)

    def live_nodes(self, now_ms: int) -> set[str]:
        return set(self.client.zrangebyscore(self.keys.nodes(), now_ms, "+inf"))

    def expired_nodes(self, now_ms: int) -> list[str]:
        return self.client.zrangebyscore(self.keys.nodes(), "-inf", now_ms)

    def lock_reap(self, dead: str, reaper: str, seconds: int) -> bool:
        return bool(self.client.set(self.keys.reap_lock(dead), reaper, nx=True, ex=seconds))

    def register_app(self, node: str, app_id: str) -> None:
        self.client.sadd(self.keys.node_apps(node), app_id)

    def node_apps(self, node: str) -> set[str]:
        return self.client.smembers(self.keys.node_apps(node))

    def forget_node(self, node: str) -> None:
        self.client.delete(self.keys.node_apps(node))
        self.client.zrem(self.keys.nodes(), node)

    # -- subscriptions --

    def write_subscriptions(
        self, app_id: str, node: str, channel: str, count: int
    ) -> SubscriptionsWritten:
        reply = self._subscriptions(
            keys=scripts.subscription_keys(self.keys, app_id, node, channel),
            args=[node, channel, count],
        )
        change, total, version, before = (int(n) for n in reply)
        return SubscriptionsWritten(change, total, version, before)

    def node_channels(self, app_id: str, node: str) -> list[str]:
        return self.client.hkeys(self.keys.app(app_id, "node", node, "channels"))

    def channel_totals(self, app_id: str, nodes: set[str]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for node in nodes:
            key = self.keys.app(app_id, "node", node, "channels")
            for name, count in self.client.hgetall(key).items():
                totals[name] = totals.get(name, 0) + count_in(key, name, count)
        return totals

    def channel_total(self, app_id: str, channel: str, nodes: set[str]) -> int:
        key = self.keys.app(app_id, "subs", channel)
        counts = self.client.hgetall(key)
        return sum(count_in(key, node, n) for node, n in counts.items() if node in nodes)

    # -- connections --

    def write_connections(self, app_id: str, node: str, count: int) -> None:
        key = self.keys.app(app_id, "connections")
        if count:
            self.client.hset(key, node, count)
        else:
            self.client.hdel(key, node)

    def reserve_connection(self, app_id: str, node: str, mine: int, limit: int) -> bool:
        key = self.keys.app(app_id, "connections")
        return bool(self._reserve(keys=[key], args=[node, mine, limit]))

    def connections(self, app_id: str) -> dict[str, int]:
        key = self.keys.app(app_id, "connections")
        return {node: count_in(key, node, n) for node, n in self.client.hgetall(key).items()}

    # -- presence --

    def join(
        self,
        app_id: str,
        node: str,
        channel: str,
        user_id: str,
        info: object,
        max_members: int,
    ) -> Joined:
        reply = self._join(
            keys=scripts.presence_keys(self.keys, app_id, node, channel),
            args=[node, user_id, orjson.dumps(info), max_members, channel],
        )
        members = {
            reply[i]: user_info(channel, reply[i], reply[i + 1]) for i in range(1, len(reply), 2)
        }
        return Joined(int(reply[0]), members)

    def leave(self, app_id: str, node: str, channel: str, user_id: str) -> bool:
        gone = self._leave(
            keys=scripts.presence_keys(self.keys, app_id, node, channel),
            args=[node, user_id, channel],
        )
        return bool(gone)

    def node_presence_channels(self, app_id: str, node: str) -> list[str]:
        return list(self.client.smembers(self.keys.app(app_id, "node", node, "presence")))

    def reap_presence(self, app_id: str, channel: str, node: str) -> list[str]:
        presence = self.keys.app(app_id, "presence", channel)
        return list(self._reap_presence(keys=[presence], args=[node]))

    def presence_users(self, app_id: str, channel: str, nodes: set[str]) -> set[str]:
        ids = set()
        for entry in self.client.hkeys(self.keys.app(app_id, "presence", channel)):
            node, _, user_id = entry.partition("|")
            if node in nodes:
                ids.add(user_id)
        return ids

    def drop_node_app(self, app_id: str, node: str) -> None:
        self.client.hdel(self.keys.app(app_id, "connections"), node)
        self.client.delete(
            self.keys.app(app_id, "node", node, "channels"),
            self.keys.app(app_id, "node", node, "presence"),
        )

    def maintain(self, node: str, now_ms: int) -> None:
        """Nothing: every key is deleted when emptied, or expires."""
