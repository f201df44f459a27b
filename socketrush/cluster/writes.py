"""This node's share of the cluster state: the live writes, and the mirror of what they wrote.

Every change goes through the store, which decides the transition it causes (occupied,
member_added, ...) once cluster-wide; it is announced here by the node that caused it. The
mirror keeps what this node last wrote per app: when the store loses it (a restart, a reap)
it is written again from there (recovery.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from socketrush.cluster.host import Host, announce_transition
from socketrush.cluster.messages import ChannelCount, CountWritten
from socketrush.cluster.store import ClusterStore, Joined


@dataclass(slots=True)
class Mirror:
    """What this node last wrote to the store for one app (connections: as the app counted
    them; reserved: reservations the app has not counted yet)."""

    connections: int = 0
    reserved: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    presence: dict[str, dict[str, object]] = field(default_factory=dict)


class Writer:
    """Used by the cluster actor's greenlet only. Every method that writes may raise the
    store's `errors`; the actor decides what a failure means (journal, fail open)."""

    def __init__(self, store: ClusterStore, node_id: str, host: Host) -> None:
        self.node_id = node_id
        self.apps: set[str] = set()  # apps registered in the store for this node (its reaper's)
        self.mirrors: dict[str, Mirror] = {}
        self._store = store
        self._host = host

    def mirror_of(self, app_id: str) -> Mirror:
        mirror = self.mirrors.get(app_id)
        if mirror is None:
            mirror = self.mirrors[app_id] = Mirror()
        return mirror

    def register_app(self, app_id: str) -> None:
        if app_id not in self.apps:
            self._store.register_app(self.node_id, app_id)
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
        """Write a mirrored count again, announcing nothing: the store lost it, and no node
        announced the loss."""
        self._write_subscriptions(app_id, channel, count)

    def _write_subscriptions(
        self, app_id: str, channel: str, count: int
    ) -> tuple[int, int, int, int]:
        """(transition, total, version, this node's count before)."""
        self.register_app(app_id)
        written = self._store.write_subscriptions(app_id, self.node_id, channel, count)
        return written.change, written.total, written.version, written.before

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
        self._store.write_connections(app_id, self.node_id, mirror.connections + mirror.reserved)

    def reserve(self, app_id: str, limit: int, deadline: float) -> bool | None:
        """Count one more connection here if the cluster stays within `limit`, in one script,
        so two nodes admitting at once cannot both take the last place. None: admitted, but
        after `deadline`, when the asker had given up and counts it itself."""
        self.register_app(app_id)
        mirror = self.mirror_of(app_id)
        mine = mirror.connections + mirror.reserved + 1
        if not self._store.reserve_connection(app_id, self.node_id, mine, limit):
            return False
        if time.monotonic() >= deadline:
            self.write_connections(app_id)  # undo: the stored count is the mirror's again
            return None
        mirror.reserved += 1
        return True

    # -- presence --

    def write_join(
        self, app_id: str, channel: str, user_id: str, info: object, max_members: int
    ) -> Joined:
        """Join cluster-wide: the status (refused, new, already a member) and members."""
        self.register_app(app_id)
        joined = self._store.join(app_id, self.node_id, channel, user_id, info, max_members)
        if joined.status:
            self.mirror_of(app_id).presence.setdefault(channel, {})[user_id] = info
        return joined

    def write_leave(self, app_id: str, channel: str, user_id: str) -> bool:
        """True when that was the user's last node (member_removed is due)."""
        gone = self._store.leave(app_id, self.node_id, channel, user_id)
        presence = self.mirror_of(app_id).presence
        members = presence.get(channel, {})
        members.pop(user_id, None)
        if not members:
            presence.pop(channel, None)
        return bool(gone)
