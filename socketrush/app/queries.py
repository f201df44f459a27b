"""What the HTTP API and the cluster ask an app about its channels, answered from the channel
actors' `stats()` snapshots: non-yielding reads on the app actor's greenlet, the one
deliberate exception to "only the owner reads its state" (docs/architecture.md, "Actors").

`AppQueries` holds the AppActor's handlers for those asks, and the counts the census reads,
apart from the handlers that change the app. Channels named `#...` are internal
(server-to-user channels) and never listed; an empty channel actor that is about to be
retired counts as no channel.
"""

from __future__ import annotations

from socketrush.app.messages import Connection, ListChannels, QueryChannel, QueryUsers, Snapshot
from socketrush.app.users import SignedInUsers
from socketrush.channels import ChannelActor, ChannelStats
from socketrush.cluster.messages import AppSnapshot
from socketrush.settings import AppSettings


class AppQueries:
    """Mixed into AppActor, whose state these read."""

    settings: AppSettings
    _channels: dict[str, ChannelActor]
    _connections: dict[str, Connection]
    _users: SignedInUsers

    def state_summary(self) -> str:
        return (
            f"app={self.settings.id} channels={len(self._channels)} "
            f"connections={len(self._connections)} users={len(self._users)}"
        )

    @property
    def connection_count(self) -> int:
        """Connections on this node (read by the census and the node's totals)."""
        return len(self._connections)

    @property
    def user_count(self) -> int:
        """Signed-in users with a socket here (read by the census, like connection_count)."""
        return len(self._users)

    @property
    def watched_user_count(self) -> int:
        """Users that some socket here watches; none once their watchers have left."""
        return self._users.watched_count

    def _list_channels(self, message: ListChannels) -> dict[str, ChannelStats]:
        return {
            name: channel.stats()
            for name, channel in self._channels.items()
            if name.startswith(message.prefix) and not channel.is_empty and not name.startswith("#")
        }

    def _query_channel(self, message: QueryChannel) -> ChannelStats | None:
        channel = self._channels.get(message.name)
        return channel.stats() if channel is not None and not channel.is_empty else None

    def _query_users(self, message: QueryUsers) -> list[str]:
        channel = self._channels.get(message.name)
        return channel.user_ids() if channel is not None else []

    def _snapshot(self, _message: Snapshot) -> AppSnapshot:
        """This node's share of the app, written again after Redis was lost or reaped."""
        channels = {
            name: channel.stats().subscription_count
            for name, channel in self._channels.items()
            if not name.startswith("#") and not channel.is_empty
        }
        presence = {
            name: channel.local_presence()
            for name, channel in self._channels.items()
            if channel.info.is_presence and not channel.is_empty
        }
        return AppSnapshot(self.settings.id, len(self._connections), channels, presence)
