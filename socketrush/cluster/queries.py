"""The read side of the cluster state: what needs every node's answer.

Only live nodes count (their heartbeat has not expired), so a dead node stops counting at its
expiry, before any reaper has removed its state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from socketrush.channels import ChannelStats
from socketrush.cluster.messages import ChannelQuery, ChannelsQuery, UsersQuery
from socketrush.protocol.channels import classify
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


class Queries:
    """Used by the cluster actor's greenlet only; may raise `redis.RedisError`."""

    def __init__(self, client: redis.Redis, keys: RedisKeys, clock: Callable[[], float]) -> None:
        self._redis = client
        self._keys = keys
        self._clock = clock

    def live_nodes(self) -> set[str]:
        now_ms = int(self._clock() * 1000)
        return set(self._redis.zrangebyscore(self._keys.nodes(), now_ms, "+inf"))

    def other_connections(self, app_id: str, node_id: str, live: set[str]) -> int:
        """The app's connections on the live nodes other than `node_id` (for its quota)."""
        key = self._keys.app(app_id, "connections")
        counts = self._redis.hgetall(key)
        return sum(
            count_in(key, node, n) for node, n in counts.items() if node in live and node != node_id
        )

    def channels(self, message: ChannelsQuery) -> dict[str, ChannelStats]:
        totals: dict[str, int] = {}
        for node in self.live_nodes():
            node_channels = self._keys.app(message.app_id, "node", node, "channels")
            for name, count in self._redis.hgetall(node_channels).items():
                if name.startswith(message.prefix) and not name.startswith("#"):
                    totals[name] = totals.get(name, 0) + count_in(node_channels, name, count)
        return {
            name: self._stats(message.app_id, name, count, message.with_user_count)
            for name, count in totals.items()
            if count > 0
        }

    def channel(self, message: ChannelQuery) -> ChannelStats | None:
        live = self.live_nodes()
        key = self._keys.app(message.app_id, "subs", message.name)
        counts = self._redis.hgetall(key)
        total = sum(count_in(key, node, n) for node, n in counts.items() if node in live)
        return self._stats(message.app_id, message.name, total, True) if total else None

    def users(self, message: UsersQuery) -> list[str]:
        return sorted(self._user_ids(message.app_id, message.name))

    def _stats(self, app_id: str, name: str, count: int, with_users: bool) -> ChannelStats:
        users = None
        if with_users and classify(name).is_presence:
            users = len(self._user_ids(app_id, name))
        return ChannelStats(count, users)

    def _user_ids(self, app_id: str, channel: str) -> set[str]:
        live = self.live_nodes()
        ids = set()
        for entry in self._redis.hkeys(self._keys.app(app_id, "presence", channel)):
            node, _, user_id = entry.partition("|")
            if node in live:
                ids.add(user_id)
        return ids
