"""Held jobs in Redis: any node cancels a hold, and any node delivers it when it falls due.

A member_removed webhook held for `webhook_member_removed_delay_ms` (queues/holds.py says
why holds stack per key) lives here instead of in the node that decided it, so a SIGKILLed
node takes none with it, and a user who leaves on one node and is back on another within the
delay cancels it there. Layout, beside the queue's lists (H = `{P}:queue:webhooks:held`, one
hash tag, so each script's keys share a cluster slot):

    H              ZSET    hold id -> due time (ms, Redis' clock: nodes' clocks never matter)
    H:jobs         HASH    hold id -> its key, then its jobs, one per line
    H:keys         HASH    key -> the ids held under it, oldest first, space-separated
    H:done:<op>    STRING  with a TTL: this write was applied already
    H:epoch        STRING  no TTL: a random id for this data set (gone: Redis lost its data)

Every node's promoter runs PROMOTE when the earliest hold falls due (and at least every
PROMOTE_POLL_SECONDS, for holds other nodes wrote): due holds move to `pending` in one script,
so each is delivered once, by whichever node moved it, with the job's own webhook id. A write
whose answer a broken connection lost is sent again; its `done` key makes the repeat a no-op
(a second cancel would otherwise call off another hold).

Redis restarted without persistence comes back empty, holds and all; H:epoch tells: any node
writes a new one into an empty Redis, and every script compares it with the one its node last
saw. So the node that wrote a hold keeps it in memory too (queues/hold_mirror.py) until it sees
it gone from H, and writes it again under the new epoch before any later write of its own
(RedisQueue._restore_holds): a hold already due is written with a short grace
(hold_mirror.REWRITE_GRACE_MS) and sent late rather than lost.

A hold another node called off (a re-join there) is gone from H but still in its writer's
memory until the writer's next check once it is due, and a loss in between would bring it
back. So the node whose cancel called it off keeps the hold's id too (hold_mirror.CalledOff),
for the hold's remaining delay plus a margin, and after a loss writes, under the new epoch and
before any hold or later write of its own, CALL_OFF for each: the hold is taken out if its
writer wrote it again already, and its done marker makes the writer's later write of it a
no-op. Either way the writer's next check finds it gone and forgets it. CALL_OFF leaves
`pending` alone (a job there is not told from the others): the grace on a write again of an
overdue hold is what gives the other nodes' CALL_OFF time to come before PROMOTE moves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from socketrush.redis_client import RedisClient

# Holds moved (or called off again) per script call, so one call never holds Redis for long.
PROMOTE_BATCH = 100
CHECK_BATCH = 500  # hold ids a PROMOTE checks at most (one ZSCORE each)
# A `done` marker lives this many leases (`queue_redis_lease_ms`). A write is repeated only by
# its own node's feeder, within RETRY_SECONDS of Redis answering again; a node cut off for
# longer than a lease is presumed dead, its in-flight jobs already re-queued, so a write
# repeated later than a few leases is one of the duplicates at-least-once delivery allows
# then. Every hold and cancel leaves one marker: at 1,000 joins and leaves a second, a few
# leases (120,000 keys by default) rather than ten minutes (1.2 million).
DONE_TTL_LEASES = 4

# Every script names the epoch its node last saw (the last KEYS and the last ARGV). A write
# under another one changes nothing and answers -2: Redis lost its data since (GET of a missing
# key is false, never equal to a string), and the node must write its holds again first.

# KEYS: held, jobs, keys, done, epoch.  ARGV: hold id, delay (ms), key, entry, done TTL (ms),
# epoch.  Returns 1 when written, 0 for a repeat of a write already applied, -2 (epoch).
HOLD = r"""
if redis.call('GET', KEYS[5]) ~= ARGV[6] then return -2 end
if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
local ids = redis.call('HGET', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ids and (ids .. ' ' .. ARGV[1]) or ARGV[1])
return 1
"""

# KEYS: held, jobs, keys, done, pending, epoch.  ARGV: key, done TTL (ms), epoch, jobs...
# Returns {1, id, ms} when it called off the latest hold under the key, `id`, which was due in
# `ms` (0 if overdue; the jobs are dropped), {0} when there was none (the jobs are pushed),
# {-1} for a repeat of a write already applied, {-2} (epoch).
CANCEL_OR_PUSH = r"""
if redis.call('GET', KEYS[6]) ~= ARGV[3] then return {-2} end
if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[2]) then return {-1} end
local ids = redis.call('HGET', KEYS[3], ARGV[1])
if ids then
  local latest = string.match(ids, '[^ ]+$')
  if #latest < #ids then
    redis.call('HSET', KEYS[3], ARGV[1], string.sub(ids, 1, #ids - #latest - 1))
  else
    redis.call('HDEL', KEYS[3], ARGV[1])
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local due = tonumber(redis.call('ZSCORE', KEYS[1], latest) or now)
  redis.call('ZREM', KEYS[1], latest)
  redis.call('HDEL', KEYS[2], latest)
  return {1, latest, math.max(0, due - now)}
end
for i = 4, #ARGV do redis.call('LPUSH', KEYS[5], ARGV[i]) end
return {0}
"""

# Takes a hold out of H (its score and jobs already gone) and out of its key's id list; PROMOTE
# and CALL_OFF begin with it.
UNLIST = r"""
local function unlist(keys, id, entry)
  local key = string.match(entry, '[^\n]+')
  local ids = redis.call('HGET', keys, key)
  if not ids then return end
  local rest = {}
  for other in string.gmatch(ids, '[^ ]+') do
    if other ~= id then rest[#rest + 1] = other end
  end
  if #rest > 0 then
    redis.call('HSET', keys, key, table.concat(rest, ' '))
  else
    redis.call('HDEL', keys, key)
  end
end
"""

# KEYS: held, jobs, keys, pending, epoch.  ARGV: most holds to move, epoch, hold ids to check...
# Moves due holds whatever the epoch (what Redis holds is due either way). Returns {holds
# moved, ms until the next hold is due or -1 when none is held, 1 if the epoch is the node's
# (else 0), then the checked ids no longer held (promoted or called off; none when 0)}.
PROMOTE = (
    UNLIST
    + r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now),
                       'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local entry = redis.call('HGET', KEYS[2], id)
  redis.call('HDEL', KEYS[2], id)
  if entry then
    unlist(KEYS[3], id, entry)
    local lines = {}
    for line in string.gmatch(entry, '[^\n]+') do lines[#lines + 1] = line end
    for i = 2, #lines do redis.call('LPUSH', KEYS[4], lines[i]) end
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = -1
if first[2] then wait = math.max(0, tonumber(first[2]) - now) end
local answer = {#due, wait, 0}
if redis.call('GET', KEYS[5]) == ARGV[2] then
  answer[3] = 1
  for i = 3, #ARGV do
    if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then answer[#answer + 1] = ARGV[i] end
  end
end
return answer
"""
)

# KEYS: held, jobs, keys, epoch, then a done key for each id.  ARGV: done TTL (ms), epoch,
# hold ids...  Takes each hold out if it is held (its writer wrote it again since Redis lost
# its data) and sets its done marker, so that a later write of it again changes nothing.
# Returns the number of holds taken out, or -2 (epoch).
CALL_OFF = (
    UNLIST
    + r"""
if redis.call('GET', KEYS[4]) ~= ARGV[2] then return -2 end
local removed = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  redis.call('SET', KEYS[i + 2], '1', 'PX', ARGV[1])
  local entry = redis.call('HGET', KEYS[2], id)
  removed = removed + redis.call('ZREM', KEYS[1], id)
  if entry then
    redis.call('HDEL', KEYS[2], id)
    unlist(KEYS[3], id, entry)
  end
end
return removed
"""
)

# KEYS: epoch.  ARGV: a new random id, kept only if there is none.  Returns the epoch.
EPOCH = r"""
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""


class HoldsLost(Exception):
    """Redis' epoch is not the one the node wrote under: it lost its data (restarted empty,
    flushed). Nothing was written; the node's holds must be written again first."""


@dataclass(frozen=True, slots=True)
class HoldWrite:
    """A hold on its way to Redis (waiting in the queue's push buffer meanwhile)."""

    op_id: str
    key: str
    jobs: tuple[bytes, ...]  # encoded jobs
    delay_ms: int


@dataclass(frozen=True, slots=True)
class CancelWrite:
    """A cancel-or-push on its way to Redis."""

    op_id: str
    key: str
    jobs: tuple[bytes, ...]


class HeldKeys:
    """Key names under the queue's base, `{P}:queue:<name>`."""

    def __init__(self, base: str) -> None:
        self.held = f"{base}:held"
        self.jobs = f"{base}:held:jobs"
        self.keys = f"{base}:held:keys"
        self.epoch = f"{base}:held:epoch"

    def done(self, op_id: str) -> str:
        return f"{self.held}:done:{op_id}"


class Cancelled(NamedTuple):
    """What one CANCEL_OR_PUSH did."""

    outcome: int  # 1: a hold was called off, 0: none was, the jobs were pushed, -1: a repeat
    hold_id: str | None  # the hold called off
    left: float  # seconds the hold called off had left until due (0 when overdue or none)


class Promoted(NamedTuple):
    """What one PROMOTE did and saw."""

    moved: int
    wait: float | None  # seconds until the next hold is due, None when none is held
    lost: bool  # Redis' epoch is not `RedisHolds.epoch`: `gone` tells nothing
    gone: list[str]  # of the ids checked, those no longer held


def stored_key(key: str) -> bytes:
    """A key as the scripts store it: a JSON string, which holds no raw line break or space
    whatever the key is."""
    return orjson.dumps(key)


def entry(key: str, jobs: Sequence[bytes]) -> bytes:
    """A hold as H:jobs stores it: the stored key, then each job, one per line (jobs are
    orjson's output, which escapes line breaks too)."""
    return b"\n".join((stored_key(key), *jobs))


class RedisHolds:
    """The scripts on one queue's keys. Every call may raise redis.RedisError; writes raise
    HoldsLost when Redis' epoch is not `epoch`, the one this node wrote under (None until
    `fetch_epoch` was adopted: the first write finds out).

    `lease` is the queue's (seconds): `done` markers live DONE_TTL_LEASES of it."""

    def __init__(self, client: RedisClient, base: str, pending: str, lease: float) -> None:
        self.keys = HeldKeys(base)
        self.epoch: str | None = None
        self._pending = pending
        self.done_ttl_ms = round(lease * 1000 * DONE_TTL_LEASES)
        self._hold = client.register_script(HOLD)
        self._cancel_or_push = client.register_script(CANCEL_OR_PUSH)
        self._promote = client.register_script(PROMOTE)
        self._call_off = client.register_script(CALL_OFF)
        self._epoch = client.register_script(EPOCH)

    def fetch_epoch(self) -> str:
        """Redis' epoch, a new one if it has none (it is empty, or has never held one)."""
        return _text(self._epoch(keys=[self.keys.epoch], args=[uuid.uuid4().hex]))

    def hold(self, write: HoldWrite, epoch: str | None = None) -> bool:
        """Write the hold under `epoch` (by default `self.epoch`); False for a repeat."""
        keys = self.keys
        done = self._hold(
            keys=[keys.held, keys.jobs, keys.keys, keys.done(write.op_id), keys.epoch],
            args=[
                write.op_id,
                write.delay_ms,
                stored_key(write.key),
                entry(write.key, write.jobs),
                self.done_ttl_ms,
                epoch or self.epoch or "",
            ],
        )
        if done == -2:
            raise HoldsLost
        return bool(done)

    def cancel_or_push(self, write: CancelWrite) -> Cancelled:
        """Call off the latest hold under the key, else push the jobs."""
        keys = self.keys
        outcome, *called_off = self._cancel_or_push(
            keys=[
                keys.held,
                keys.jobs,
                keys.keys,
                keys.done(write.op_id),
                self._pending,
                keys.epoch,
            ],
            args=[stored_key(write.key), self.done_ttl_ms, self.epoch or "", *write.jobs],
        )
        if outcome == -2:
            raise HoldsLost
        if not called_off:
            return Cancelled(int(outcome), None, 0.0)
        hold_id, left_ms = called_off
        return Cancelled(int(outcome), _text(hold_id), int(left_ms) / 1000)

    def call_off(self, hold_ids: Sequence[str], epoch: str) -> int:
        """Make sure these holds, called off under an earlier epoch, stay off under `epoch`
        (see the module docstring); returns how many were held again and are taken out."""
        keys = self.keys
        taken = 0
        for start in range(0, len(hold_ids), PROMOTE_BATCH):
            batch = hold_ids[start : start + PROMOTE_BATCH]
            done = self._call_off(
                keys=[keys.held, keys.jobs, keys.keys, keys.epoch, *map(keys.done, batch)],
                args=[self.done_ttl_ms, epoch, *batch],
            )
            if done == -2:
                raise HoldsLost
            taken += int(done)
        return taken

    def promote(self, check: Sequence[str] = ()) -> Promoted:
        """Move due holds to `pending`, and tell which of the hold ids in `check` are held no
        more (CHECK_BATCH at most)."""
        keys = self.keys
        moved, wait_ms, same, *gone = self._promote(
            keys=[keys.held, keys.jobs, keys.keys, self._pending, keys.epoch],
            args=[PROMOTE_BATCH, self.epoch or "", *check],
        )
        return Promoted(
            int(moved),
            None if int(wait_ms) < 0 else int(wait_ms) / 1000,
            not same,
            list(map(_text, gone)),
        )


def _text(reply: bytes | str) -> str:
    """A string reply, from a client that decodes replies or one that does not."""
    return reply.decode() if isinstance(reply, bytes) else reply
