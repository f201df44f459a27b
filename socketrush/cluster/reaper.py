"""Reaping: removing a node's shared state and announcing what its departure means.

A node whose heartbeat expired is reaped by whichever live node takes its reap lock first, so
the member_removed / channel_vacated it implies are sent exactly once. A node stopping
gracefully reaps itself.
"""

from __future__ import annotations

import logging

import redis

from socketrush.cluster import scripts
from socketrush.cluster.host import Host, announce_member_removed, announce_transition
from socketrush.protocol.channels import classify
from socketrush.redis_client import RedisKeys

log = logging.getLogger(__name__)

REAP_LOCK_SECONDS = 60


class Reaper:
    """Used by the cluster actor's greenlet only; may raise `redis.RedisError`."""

    def __init__(self, client: redis.Redis, keys: RedisKeys, node_id: str, host: Host) -> None:
        self._redis = client
        self._keys = keys
        self._node_id = node_id
        self._host = host
        self._subscriptions = client.register_script(scripts.SUBSCRIPTIONS)
        self._reap_presence = client.register_script(scripts.REAP_PRESENCE)

    def reap_expired(self, now_ms: int) -> None:
        """Reap the nodes whose heartbeat expired before `now_ms`. The caller must have
        reached Redis for a whole timeout: after an outage every node's heartbeat looks
        expired until it beats."""
        for dead in self._redis.zrangebyscore(self._keys.nodes(), "-inf", now_ms):
            lock = self._keys.reap_lock(dead)
            if self._redis.set(lock, self._node_id, nx=True, ex=REAP_LOCK_SECONDS):
                log.warning("cluster: node %s stopped beating; removing its state", dead)
                self.reap(dead)

    def reap(self, node: str) -> None:
        """Remove `node`'s state and send what its departure means (also our own at stop)."""
        for app_id in self._redis.smembers(self._keys.node_apps(node)):
            node_channels = self._keys.app(app_id, "node", node, "channels")
            for name in self._redis.hkeys(node_channels):
                change, total, version, _ = self._subscriptions(
                    keys=scripts.subscription_keys(self._keys, app_id, node, name),
                    args=[node, name, 0],
                )
                announce_transition(self._host, app_id, name, int(change))
                if int(total) > 0 and not classify(name).is_presence:
                    # the survivors' subscribers and webhooks learn the smaller total now,
                    # as they would from a disconnect (only where the app enables counts)
                    self._host.announce_count(app_id, name, int(total), int(version))
            node_presence = self._keys.app(app_id, "node", node, "presence")
            for name in self._redis.smembers(node_presence):
                presence = self._keys.app(app_id, "presence", name)
                for user_id in self._reap_presence(keys=[presence], args=[node]):
                    announce_member_removed(self._host, app_id, name, user_id)
            self._redis.hdel(self._keys.app(app_id, "connections"), node)
            self._redis.delete(node_channels, node_presence)
        self._redis.delete(self._keys.node_apps(node))
        self._redis.zrem(self._keys.nodes(), node)
