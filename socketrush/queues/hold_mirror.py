"""What one node keeps in memory of the holds in Redis, for a Redis that restarts empty.

Redis restarted without persistence loses every hold it kept (queues/redis_holds.py).
HoldMirror keeps the holds this node wrote: it writes each again from here, with what is left
of its delay. An entry goes when this node calls the hold off, and when a PROMOTE, under the
epoch the entry was written in, finds it no longer held (promoted, or called off by another
node): only then is a second write sure to be a duplicate. Entries are checked once due,
oldest first, so most are checked once. At most MIRROR_LIMIT entries: beyond, the oldest go.

CalledOff keeps the ids of holds other nodes wrote and this node called off: their writers
keep them until they check them, after their due time, and would write them again after a
loss; this node then calls them off again (RedisQueue._restore_holds).

Both are used by the queue's feeder (adds, forgets called-off holds, reads all to write again)
and its promoter (checks, forgets, expires); gevent switches only at I/O, and no method here
does any.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from socketrush.queues.redis_holds import HoldWrite

log = logging.getLogger(__name__)

# As many as the push buffer takes (MAX_BUFFERED_PUSHES): a node holds about (leaves a
# second) x (the delay + a promoter round) entries, a few thousand at 1,000 leaves a second.
MIRROR_LIMIT = 100_000
# A hold written again after its due time waits this long, not 0: the node that called it off
# writes its CALL_OFF once it sees the loss too, within a promoter round or a feeder retry (0.5
# s each) of Redis answering; written again and moved at once, the hold would be sent first.
REWRITE_GRACE_MS = 1000


@dataclass(frozen=True, slots=True)
class Mirrored:
    write: HoldWrite
    due: float  # time.monotonic() when the hold falls due

    def rewrite(self, now: float) -> HoldWrite:
        """The write again, with what is left of its delay (REWRITE_GRACE_MS at least); the
        same id, so a hold Redis still has is not written twice."""
        return replace(self.write, delay_ms=max(REWRITE_GRACE_MS, round((self.due - now) * 1000)))


class HoldMirror:
    def __init__(self, limit: int = MIRROR_LIMIT) -> None:
        self._entries: OrderedDict[str, Mirrored] = OrderedDict()  # by op_id, oldest first
        self._limit = limit
        self.dropped = 0  # entries dropped to the limit: those holds could be lost

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, op_id: object) -> bool:
        return op_id in self._entries

    def add(self, write: HoldWrite, now: float) -> None:
        """`write` reached Redis at `now` (a repeat of one kept already changes nothing)."""
        if write.op_id in self._entries:
            return
        if len(self._entries) >= self._limit:
            if not self.dropped:
                log.warning(
                    "redis queue: more than %d holds to keep for a restart of Redis; "
                    "forgetting the oldest",
                    self._limit,
                )
            self.dropped += 1
            self._entries.popitem(last=False)
        self._entries[write.op_id] = Mirrored(write, now + write.delay_ms / 1000)

    def forget(self, op_ids: Iterable[str]) -> None:
        for op_id in op_ids:
            self._entries.pop(op_id, None)

    def due(self, now: float, most: int) -> list[str]:
        """The ids of up to `most` entries due by `now`, oldest first: for PROMOTE to check."""
        found: list[str] = []
        for op_id, entry in self._entries.items():
            if entry.due > now or len(found) == most:
                break
            found.append(op_id)
        return found

    def by_due(self) -> list[Mirrored]:
        return sorted(self._entries.values(), key=lambda entry: entry.due)


class CalledOff:
    """Ids of holds this node called off, each until `margin` seconds after its due time.

    The writer checks a hold within a promoter round of its due time when Redis answers; the
    margin (the queue's lease: a node cut off from Redis for longer is presumed dead) covers
    a slow round. An entry goes only by `expire`, which the promoter calls after a PROMOTE
    that found the epoch unchanged: while Redis is unreachable, or came back empty, the
    writer has not checked either, so the ids stay for the write again."""

    def __init__(self, margin: float, limit: int = MIRROR_LIMIT) -> None:
        self._ends: OrderedDict[str, float] = OrderedDict()  # id -> monotonic end, oldest first
        self._margin = margin
        self._limit = limit
        self.dropped = 0  # ids dropped to the limit: those holds could come back

    def __len__(self) -> int:
        return len(self._ends)

    def add(self, hold_id: str, left: float, now: float) -> None:
        """This node's cancel called off `hold_id` at `now`; it was due in `left` seconds."""
        if len(self._ends) >= self._limit and hold_id not in self._ends:
            if not self.dropped:
                log.warning(
                    "redis queue: more than %d holds called off to keep for a restart of "
                    "Redis; forgetting the oldest",
                    self._limit,
                )
            self.dropped += 1
            self._ends.popitem(last=False)
        self._ends[hold_id] = now + left + self._margin

    def expire(self, now: float) -> None:
        """Forget the ids whose time ended by `now`, oldest first. One added later may end
        earlier (less of its delay was left); it waits for those before it, a delay at most."""
        while self._ends:
            hold_id, end = next(iter(self._ends.items()))
            if end > now:
                return
            del self._ends[hold_id]

    def ids(self) -> list[str]:
        return list(self._ends)
