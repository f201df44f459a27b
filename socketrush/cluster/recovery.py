"""Store outages: the journal of changes the store has not seen, and the way back after one.

While a write fails, the changes that can be transitions are journaled (bounded) and decided
locally. When the store answers again, recovery restores this node's mirror if it lost it
(silently after a restart: nobody announced its loss; with events after a reap: the other
nodes did), waits a few beats after a silent restore so every node has restored its own,
replays the journal through the same scripts so the transitions of the outage are announced
then, and finally compares the mirror with the actors' snapshot, which settles whatever a
full journal dropped.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import replace

from socketrush.cluster.host import Host, Reach, announce_member_added, announce_member_removed
from socketrush.cluster.messages import (
    AppSnapshot,
    ChannelCount,
    CountWritten,
    PresenceJoin,
    PresenceJoined,
    PresenceLeave,
)
from socketrush.cluster.store import NEW_MEMBER, ClusterStore
from socketrush.cluster.writes import Mirror, Writer
from socketrush.protocol import frames
from socketrush.protocol.channels import classify

log = logging.getLogger(__name__)

JOURNAL_LIMIT = 10_000  # changes kept while the store is unreachable; older ones are dropped
# After the store lost everything, every live node restores its own state within one beat; a
# journal replayed before the others restored would see channels and members as gone.
SETTLE_BEATS = 2

Journaled = ChannelCount | PresenceJoin | PresenceLeave


class Recovery:
    """Used by the cluster actor's greenlet only. State: whether the store is behind
    (`stale`), the journal, the store's epoch this node wrote under, and how far a recovery
    has got."""

    def __init__(self, store: ClusterStore, writer: Writer, host: Host) -> None:
        self.stale = False  # a write failed: journal until the store answers, then recover
        self._store = store
        self._writer = writer
        self._host = host
        self._journal: deque[Journaled] = deque(maxlen=JOURNAL_LIMIT)
        self._dropped = 0  # journal entries lost to the limit in this outage
        self._restore: str | None = None  # "silent" | "loud": the store lost our state
        self._settling = 0  # beats to wait after a silent restore before replaying
        self._epoch: str | None = None  # identifies the store's data set we wrote to

    @property
    def journaled(self) -> int:
        return len(self._journal)

    @property
    def pending(self) -> bool:
        """The store is behind this node: `recover` has work."""
        return self.stale or self._restore is not None

    def journal(self, change: Journaled) -> None:
        """Keep a change the store has not seen, and do now what this node can do alone: a join
        is decided by the channel from its own members, a leave is announced here, a count's
        channel hears that no version is coming."""
        if len(self._journal) == self._journal.maxlen:
            if not self._dropped:
                log.warning(
                    "cluster: journal full (%d changes); dropping the oldest, the final "
                    "comparison after the outage settles their net effect",
                    JOURNAL_LIMIT,
                )
            self._dropped += 1
        if isinstance(change, ChannelCount) and change.reply_to is not None:
            change.reply_to.tell(CountWritten(change.seq, None))  # announced, if at all, later
            change = replace(change, reply_to=None)
        self._journal.append(change)
        if isinstance(change, PresenceJoin):
            change.reply_to.tell(PresenceJoined(change.token, None))
        elif isinstance(change, PresenceLeave):
            payload = frames.member_removed(change.channel, change.user_id)
            self._host.publish(change.app_id, change.channel, payload, None, Reach.HERE)

    def check_epoch(self, added: bool) -> None:
        """Tell a store that lost its data (restarted empty: a new epoch) from one where the
        other nodes reaped us (same epoch, but `added`: we were gone from the registry)."""
        epoch = self._store.epoch()
        if self._epoch is not None and epoch != self._epoch:
            self._restore = "silent"
            self.stale = True
        elif self._epoch is not None and added and self._restore is None:
            log.warning("cluster: the other nodes reaped this node; announcing it again")
            self._restore = "loud"
            self.stale = True
        self._epoch = epoch

    def recover(self) -> bool:
        """Bring the store up to date, one step per beat where the other nodes must catch up;
        True once it is. Each step is safe to repeat: the store failing half-way leaves the
        rest for the next beat."""
        if self._restore is not None:
            loud = self._restore == "loud"
            log.warning("cluster: the store lost this node's state; restoring it")
            self._writer.apps.clear()
            for app_id, mirror in list(self._writer.mirrors.items()):
                self._restore_app(app_id, mirror, loud)
            self._restore = None
            if not loud:
                self._settling = SETTLE_BEATS
        if self._settling:
            self._settling -= 1
            return False
        if self._journal:
            log.info(
                "cluster: replaying %d changes made while the store was unreachable",
                len(self._journal),
            )
        last_counts = {
            (c.app_id, c.channel): c for c in self._journal if isinstance(c, ChannelCount)
        }
        while self._journal:
            self._replay(self._journal[0], last_counts)
            self._journal.popleft()
        if self._dropped:
            log.warning("cluster: %d changes of the outage were dropped", self._dropped)
            self._dropped = 0
        self._reconcile()
        self.stale = False
        return True

    def _restore_app(self, app_id: str, mirror: Mirror, loud: bool) -> None:
        """Write the mirror again; `loud`: the other nodes announced its loss (vacated, the
        smaller count, member_removed), so announce it back as live changes would."""
        self._writer.write_connections(app_id)
        for channel, count in list(mirror.channels.items()):
            if loud:  # counts as the reaper announced them: not for presence channels
                announce = not classify(channel).is_presence
                self._writer.write_count(ChannelCount(app_id, channel, count, announce))
            else:
                self._writer.restore_count(app_id, channel, count)
        for channel, members in list(mirror.presence.items()):
            for user_id, info in list(members.items()):
                joined = self._writer.write_join(app_id, channel, user_id, info, 0)
                if loud and joined.status == NEW_MEMBER:
                    # The reap's member_removed may still be in this node's pub/sub backlog:
                    # its own subscribers get member_added behind it, not before.
                    announce_member_added(
                        self._host, app_id, channel, user_id, info, None, Reach.EVERYWHERE_IN_ORDER
                    )

    def _replay(self, change: Journaled, last_counts: dict[tuple[str, str], ChannelCount]) -> None:
        if isinstance(change, ChannelCount):
            # Only a channel's last count of the outage is announced: the others are history.
            if last_counts.get((change.app_id, change.channel)) is not change:
                change = replace(change, announce=False)
            self._writer.write_count(change)
        elif isinstance(change, PresenceJoin):
            joined = self._writer.write_join(
                change.app_id, change.channel, change.user_id, change.user_info, 0
            )
            if joined.status == NEW_MEMBER:
                announce_member_added(
                    self._host, change.app_id, change.channel, change.user_id, change.user_info
                )
        elif self._writer.write_leave(change.app_id, change.channel, change.user_id):
            announce_member_removed(self._host, change.app_id, change.channel, change.user_id)

    def _reconcile(self) -> None:
        """Make the store match the actors: each difference goes through the same scripts as a
        live change, so subscribers and webhooks see the transitions that really happened."""
        writer = self._writer
        snapshots = {snap.app_id: snap for snap in self._host.snapshot()}
        for app_id in set(snapshots) | set(writer.mirrors):
            snap = snapshots.get(app_id) or AppSnapshot(app_id, 0, {}, {})
            mirror = writer.mirror_of(app_id)
            mirror.connections = snap.connections
            writer.write_connections(app_id)
            for channel in set(mirror.channels) | set(snap.channels):
                count = snap.channels.get(channel, 0)
                if mirror.channels.get(channel, 0) != count:
                    writer.write_count(ChannelCount(app_id, channel, count))
            for channel in set(mirror.presence) | set(snap.presence):
                wanted = snap.presence.get(channel, {})
                for user_id in set(mirror.presence.get(channel, {})) - set(wanted):
                    if writer.write_leave(app_id, channel, user_id):
                        announce_member_removed(self._host, app_id, channel, user_id)
                for user_id, info in wanted.items():
                    if user_id not in mirror.presence.get(channel, {}):
                        joined = writer.write_join(app_id, channel, user_id, info, 0)
                        if joined.status == NEW_MEMBER:
                            announce_member_added(self._host, app_id, channel, user_id, info)
