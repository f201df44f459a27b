"""ClusterState: the one actor per node that reads and writes the cluster's shared state.

Channel and app actors `tell` it what changed here and never wait for the store (Redis or
NATS JetStream, see store.py); HTTP views and
connecting sockets `ask` it what needs every node's answer. It also keeps this node alive in
the node registry (a heartbeat every timeout / BEATS_PER_TIMEOUT) and reaps nodes whose
heartbeat expired.

The work is split by job, each part a plain object this actor owns and calls from its own
greenlet: `Writer` (live writes and the mirror of them), `Recovery` (the outage journal and
the way back), `Reaper` (dead nodes), `Queries` (the read side). This module decides what a
store failure means for each message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from actors import Actor, Supervisor
from socketrush.channels import ChannelStats
from socketrush.cluster.host import Host, announce_member_added, announce_member_removed
from socketrush.cluster.messages import (
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
from socketrush.cluster.queries import Queries
from socketrush.cluster.reaper import Reaper
from socketrush.cluster.recovery import Recovery
from socketrush.cluster.store import NEW_MEMBER, REFUSED, ClusterStore
from socketrush.cluster.writes import Writer

log = logging.getLogger(__name__)

DEFAULT_NODE_TIMEOUT_SECONDS = 10.0
BEATS_PER_TIMEOUT = 4  # a dead node is reaped within timeout * (1 + 1/BEATS_PER_TIMEOUT)


MAX_FOLDED_COUNTS = 1000  # ConnectionCounts handled as one write


@dataclass(frozen=True, slots=True)
class _Beat:
    pass


def _is_connection_count(message: object) -> bool:
    return isinstance(message, ConnectionCount)


class ClusterState(Actor):
    """State: the node id, the store's reachability, and the parts that hold the rest (the
    mirror in `Writer`, the journal and epoch in `Recovery`)."""

    def __init__(
        self,
        store: ClusterStore,
        node_id: str,
        host: Host,
        node_timeout: float = DEFAULT_NODE_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
        supervisor: Supervisor | None = None,
    ) -> None:
        super().__init__(name="cluster-state", supervisor=supervisor)
        self.node_id = node_id
        self._store = store
        self._host = host
        self._timeout = node_timeout
        self._clock = clock
        self._writer = Writer(store, node_id, host)
        self._recovery = Recovery(store, self._writer, host)
        self._reaper = Reaper(store, node_id, host)
        self._queries = Queries(store, clock)
        self._failures = 0
        self._reachable_since: float | None = None  # clock() when the store began answering
        self._quota_unchecked = False  # logged that reservations fail open

    def state_summary(self) -> str:
        return (
            f"cluster node={self.node_id} apps={len(self._writer.mirrors)} "
            f"stale={self._recovery.stale} journal={self._recovery.journaled}"
        )

    def on_start(self) -> None:
        self.tell(_Beat())

    def on_restart(self, error: BaseException) -> None:
        """A crash may have cut a change half way (the store written, the mirror not, or the
        message lost): as after an outage, journal until the next beat, whose recovery
        compares the mirror with the apps and writes what differs."""
        self._recovery.stale = True

    def on_stop(self) -> None:
        """A graceful stop leaves nothing for the reaper: local state was already removed
        by the disconnects; the registry entry and what is left go now."""
        try:
            self._reaper.reap(self.node_id)
        except self._store.errors as error:
            log.warning("cluster: could not deregister node (it will be reaped): %s", error)

    def receive(self, message: object) -> object:
        handler = self._handlers.get(type(message))
        if handler is None:
            raise TypeError(f"unexpected message {type(message).__name__}")
        try:
            result = handler(self, message)
        except self._store.errors as error:
            self._failed(error)
            if isinstance(message, ReserveConnection):
                self._warn_quota_unchecked()
            elif isinstance(message, ChannelCount | PresenceJoin | PresenceLeave):
                self._recovery.journal(message)
            elif isinstance(message, ChannelsQuery | ChannelQuery | UsersQuery):
                raise ClusterUnavailable(str(error)) from error
            return None
        self._failures = 0
        return result

    def _failed(self, error: BaseException) -> None:
        self._recovery.stale = True
        self._reachable_since = None
        self._failures += 1
        if self._failures == 1 or self._failures % 100 == 0:
            log.warning("cluster state: the store failed (%d in a row): %s", self._failures, error)

    def _warn_quota_unchecked(self) -> None:
        if not self._quota_unchecked:
            log.warning("cluster: connection quotas are checked per node until the store answers")
            self._quota_unchecked = True

    # -- live changes: to the store, or to the journal while it is behind --

    def _channel_count(self, message: ChannelCount) -> None:
        if self._recovery.stale:
            self._recovery.journal(message)
        else:
            self._writer.write_count(message)

    def _connection_count(self, message: ConnectionCount) -> None:
        """Counts queued behind this one (a connection storm) are folded in: only each app's
        last count is written, one store round trip instead of one per connect."""
        counts = [message, *self.take_queued(_is_connection_count, MAX_FOLDED_COUNTS)]
        for count in counts:
            self._writer.count_connections(count.app_id, count.count, count.reserved)
        if not self._recovery.stale:
            for app_id in dict.fromkeys(count.app_id for count in counts):
                self._writer.write_connections(app_id)

    def _reserve_connection(self, message: ReserveConnection) -> bool | None:
        """None (not counted: the app checks its own view) while the store is behind or once
        the asker has given up."""
        if self._recovery.stale or time.monotonic() >= message.deadline:
            self._warn_quota_unchecked()
            return None
        return self._writer.reserve(message.app_id, message.limit, message.deadline)

    def _presence_join(self, message: PresenceJoin) -> None:
        if self._recovery.stale:
            self._recovery.journal(message)
            return
        app_id, channel, user_id, info = (
            message.app_id,
            message.channel,
            message.user_id,
            message.user_info,
        )
        joined = self._writer.write_join(app_id, channel, user_id, info, message.max_members)
        if joined.status == REFUSED:
            message.reply_to.tell(PresenceJoined(message.token, None, refused=True))
            return
        message.reply_to.tell(PresenceJoined(message.token, joined.members))
        if joined.status == NEW_MEMBER:
            announce_member_added(
                self._host, app_id, channel, user_id, info, message.except_socket_id
            )

    def _presence_leave(self, message: PresenceLeave) -> None:
        if self._recovery.stale:
            self._recovery.journal(message)
        elif self._writer.write_leave(message.app_id, message.channel, message.user_id):
            announce_member_removed(self._host, message.app_id, message.channel, message.user_id)

    # -- heartbeat --

    def _beat(self, _message: _Beat | None = None) -> None:
        self.tell_later(self._timeout / BEATS_PER_TIMEOUT, _Beat())
        now = self._clock()
        now_ms = int(now * 1000)
        added = self._store.beat(self.node_id, now_ms + int(self._timeout * 1000))
        if self._reachable_since is None:
            self._reachable_since = now
        self._recovery.check_epoch(added)
        if self._recovery.pending and self._recovery.recover():
            self._quota_unchecked = False
        if now - self._reachable_since >= self._timeout:
            # Only a node that has reached the store for a whole timeout judges (see Reaper).
            self._reaper.reap_expired(now_ms)
            self._store.maintain(self.node_id, now_ms)
        live = self._queries.live_nodes()
        for app_id in self._writer.apps:
            others = self._queries.other_connections(app_id, self.node_id, live)
            self._host.remote_connections(app_id, others)

    # -- queries --

    def _channels(self, message: ChannelsQuery) -> dict[str, ChannelStats]:
        return self._queries.channels(message)

    def _channel(self, message: ChannelQuery) -> ChannelStats | None:
        return self._queries.channel(message)

    def _users(self, message: UsersQuery) -> list[str]:
        return self._queries.users(message)

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
