"""The read side of the cluster state: what needs every node's answer.

Only live nodes count (their heartbeat has not expired), so a dead node stops counting at its
expiry, before any reaper has removed its state.
"""

from __future__ import annotations

from collections.abc import Callable

from socketrush.channels import ChannelStats
from socketrush.cluster.messages import ChannelQuery, ChannelsQuery, UsersQuery
from socketrush.cluster.store import ClusterStore
from socketrush.protocol.channels import classify


class Queries:
    """Used by the cluster actor's greenlet only; may raise the store's `errors`."""

    def __init__(self, store: ClusterStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def live_nodes(self) -> set[str]:
        return self._store.live_nodes(int(self._clock() * 1000))

    def other_connections(self, app_id: str, node_id: str, live: set[str]) -> int:
        """The app's connections on the live nodes other than `node_id` (for its quota)."""
        counts = self._store.connections(app_id)
        return sum(n for node, n in counts.items() if node in live and node != node_id)

    def channels(self, message: ChannelsQuery) -> dict[str, ChannelStats]:
        totals = self._store.channel_totals(message.app_id, self.live_nodes())
        return {
            name: self._stats(message.app_id, name, count, message.with_user_count)
            for name, count in totals.items()
            if count > 0 and name.startswith(message.prefix) and not name.startswith("#")
        }

    def channel(self, message: ChannelQuery) -> ChannelStats | None:
        total = self._store.channel_total(message.app_id, message.name, self.live_nodes())
        return self._stats(message.app_id, message.name, total, True) if total else None

    def users(self, message: UsersQuery) -> list[str]:
        return sorted(self._store.presence_users(message.app_id, message.name, self.live_nodes()))

    def _stats(self, app_id: str, name: str, count: int, with_users: bool) -> ChannelStats:
        users = None
        if with_users and classify(name).is_presence:
            users = len(self._store.presence_users(app_id, name, self.live_nodes()))
        return ChannelStats(count, users)
