"""Reaping: removing a node's shared state and announcing what its departure means.

A node whose heartbeat expired is reaped by whichever live node takes its reap lock first, so
the member_removed / channel_vacated it implies are sent exactly once. A node stopping
gracefully reaps itself.
"""

from __future__ import annotations

import logging

from socketrush.cluster.host import Host, announce_member_removed, announce_transition
from socketrush.cluster.store import ClusterStore
from socketrush.protocol.channels import classify

log = logging.getLogger(__name__)

REAP_LOCK_SECONDS = 60


class Reaper:
    """Used by the cluster actor's greenlet only; may raise the store's `errors`."""

    def __init__(self, store: ClusterStore, node_id: str, host: Host) -> None:
        self._store = store
        self._node_id = node_id
        self._host = host

    def reap_expired(self, now_ms: int) -> None:
        """Reap the nodes whose heartbeat expired before `now_ms`. The caller must have
        reached the store for a whole timeout: after an outage every node's heartbeat looks
        expired until it beats."""
        for dead in self._store.expired_nodes(now_ms):
            if self._store.lock_reap(dead, self._node_id, REAP_LOCK_SECONDS):
                log.warning("cluster: node %s stopped beating; removing its state", dead)
                self.reap(dead)

    def reap(self, node: str) -> None:
        """Remove `node`'s state and send what its departure means (also our own at stop)."""
        store = self._store
        for app_id in store.node_apps(node):
            for name in store.node_channels(app_id, node):
                written = store.write_subscriptions(app_id, node, name, 0)
                announce_transition(self._host, app_id, name, written.change)
                if written.total > 0 and not classify(name).is_presence:
                    # the survivors' subscribers and webhooks learn the smaller total now,
                    # as they would from a disconnect (only where the app enables counts)
                    self._host.announce_count(app_id, name, written.total, written.version)
            for name in store.node_presence_channels(app_id, node):
                for user_id in store.reap_presence(app_id, name, node):
                    announce_member_removed(self._host, app_id, name, user_id)
            store.drop_node_app(app_id, node)
        store.forget_node(node)
