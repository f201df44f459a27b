"""Redis queue: a durable job list any node can consume, so no job dies with its node.

Layout (names from `RedisKeys.queue("webhooks")`, here Q; one hash tag, so every key lives in
one cluster slot and BLMOVE stays legal):
    Q:pending                LIST    jobs waiting; LPUSH in, taken from the right (FIFO)
    Q:in-flight:<node>       LIST    jobs one node's workers are delivering right now
    Q:alive:<node>           STRING  with a TTL of one lease, refreshed by the node
    Q:consumers              SET     node ids that may hold in-flight jobs
    Q:dead                   LIST    jobs that failed for good, with the reason
    Q:held...                        held jobs (a member_removed waiting out its delay): see
                                     queues/redis_holds.py

A worker BLMOVEs a job from `pending` to its node's `inflight` list atomically, runs it and
LREMs it. If the node dies (even SIGKILL) its alive key expires and any other node's reaper moves
the in-flight jobs back to the head of `pending`, so another node delivers them: delivery is
at least once. Pushing (and holding, and cancelling a hold) goes through a local buffer drained
in order by one greenlet, so the actor that pushes never waits for Redis, a hold is written
before the cancel that follows it, and jobs wait out a Redis outage instead of being lost.
The feeder also writes this node's holds again when Redis lost them (queues/redis_holds.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import gevent
import orjson
import redis
from gevent.event import Event
from gevent.queue import Full, JoinableQueue
from redis.exceptions import RedisClusterException

from socketrush import metrics
from socketrush.queues.base import Handler, Job, Queue, decode, encode, report_lost, run_job
from socketrush.queues.hold_mirror import CalledOff, HoldMirror
from socketrush.queues.redis_holds import (
    CHECK_BATCH,
    PROMOTE_BATCH,
    CancelWrite,
    HoldsLost,
    HoldWrite,
    RedisHolds,
)
from socketrush.redis_client import RedisKeys

log = logging.getLogger(__name__)

MAX_BUFFERED_PUSHES = 100_000
POLL_SECONDS = 1.0  # a BLMOVE waits at most this long, so stopping is never slower
RETRY_SECONDS = 0.5  # pause after a Redis error before trying again
# What Redis being unreachable raises; a cluster client's "no node answers" is not a RedisError.
REDIS_ERRORS = (redis.RedisError, RedisClusterException)
# The promoter looks for due holds at least this often: other nodes' new holds wake it not.
PROMOTE_POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class EpochCheck:
    """Put in the push buffer by the promoter when Redis' epoch changed: the feeder, which
    writes everything of this node's in order, writes the holds again."""


Write = bytes | HoldWrite | CancelWrite | EpochCheck


class QueueKeys:
    """The queue's key names; see the module docstring for the layout."""

    def __init__(self, keys: RedisKeys, name: str = "webhooks") -> None:
        shared = keys.queue(name)
        self.pending = shared.pending
        self.dead = shared.dead
        self._in_flight = shared.in_flight
        self.base = shared.pending.removesuffix(":pending")
        self.consumers = f"{self.base}:consumers"

    def inflight(self, node: str) -> str:
        return f"{self._in_flight}:{node}"

    def alive(self, node: str) -> str:
        return f"{self.base}:alive:{node}"


class RedisQueue(Queue):
    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        *,
        workers: int = 8,
        lease: float = 15.0,
        node_id: str | None = None,
    ) -> None:
        self._redis = client
        self.keys = QueueKeys(keys)
        self.node_id = node_id or uuid.uuid4().hex
        self._size = workers
        self._lease = lease
        self._buffer: JoinableQueue = JoinableQueue(MAX_BUFFERED_PUSHES)
        self._stopping = Event()
        self._greenlets: list[gevent.Greenlet] = []
        self._workers: list[gevent.Greenlet] = []
        self._depth = metrics.QUEUE_DEPTH.labels("redis")
        self.holds = RedisHolds(client, self.keys.base, self.keys.pending, lease)
        self._hold_written = Event()  # wakes the promoter: a hold of ours may be due soonest
        self.mirror = HoldMirror()  # our holds, to write again if Redis loses them
        self.called_off = CalledOff(lease)  # others' holds we called off, to call off again
        self._check_queued = False  # an EpochCheck waits in the buffer

    # -- Queue --

    def start(self, handler: Handler) -> None:
        self._beat()  # be known as alive before the first job can be taken
        self._workers = [gevent.spawn(self._work, handler) for _ in range(self._size)]
        self._greenlets = [
            gevent.spawn(self._feed),
            gevent.spawn(self._heartbeat),
            gevent.spawn(self._promote),
        ]

    def push(self, job: Job) -> None:
        self._buffered(encode(job), [job])

    def hold(self, key: str, jobs: Sequence[Job], delay: float) -> None:
        write = HoldWrite(uuid.uuid4().hex, key, tuple(map(encode, jobs)), round(delay * 1000))
        self._buffered(write, jobs)

    def cancel_or_push(self, key: str, jobs: Sequence[Job]) -> None:
        self._buffered(CancelWrite(uuid.uuid4().hex, key, tuple(map(encode, jobs))), jobs)

    def _buffered(self, write: Write, jobs: Sequence[Job]) -> None:
        try:
            self._buffer.put_nowait(write)
        except Full:
            self._dropped(write, jobs, f"push buffer full ({MAX_BUFFERED_PUSHES} writes)")
        else:
            self._depth.inc()

    def stop(self, timeout: float) -> None:
        """Hand everything back to Redis: buffered pushes are written, workers finish their
        current job within `timeout`, and jobs still in flight return to `pending` for any
        node to deliver. Held jobs stay held in Redis: any other node's promoter sends them
        when due, or the next node to start if none runs."""
        deadline = time.monotonic() + timeout
        self._buffer.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        gevent.joinall(self._workers, timeout=max(0.0, deadline - time.monotonic()))
        gevent.killall(self._workers + self._greenlets, block=True, timeout=1)
        self._drain_buffer_to_log()
        try:
            returned = self._requeue(self.node_id)
            self._redis.delete(self.keys.alive(self.node_id))
            self._redis.srem(self.keys.consumers, self.node_id)
        except REDIS_ERRORS as error:
            log.error("redis queue: could not hand back in-flight jobs on stop: %s", error)
        else:
            if returned:
                log.warning("redis queue: handed %d unfinished jobs back on stop", returned)

    # -- operations (public for tests and tools) --

    def reap(self) -> int:
        """Re-queue the in-flight jobs of every node whose lease expired; returns how many."""
        moved = 0
        for raw in self._redis.smembers(self.keys.consumers):
            node = raw.decode() if isinstance(raw, bytes) else raw
            if node == self.node_id or self._redis.exists(self.keys.alive(node)):
                continue
            count = self._requeue(node)
            self._redis.srem(self.keys.consumers, node)
            if count:
                log.warning("redis queue: re-queued %d jobs of dead node %s", count, node)
            moved += count
        return moved

    def dead_letters(self) -> list[tuple[Job, str]]:
        entries = [orjson.loads(raw) for raw in self._redis.lrange(self.keys.dead, 0, -1)]
        return [(decode(entry["job"].encode()), entry["reason"]) for entry in entries]

    # -- greenlets --

    # Every loop below runs in the only greenlet of its kind (or one of a fixed pool) and nothing
    # starts it again: an error that is not Redis' (a bug, a reply it cannot read) is logged
    # with its traceback once per run of failures, and the loop goes on after RETRY_SECONDS.

    def _work(self, handler: Handler) -> None:
        inflight = self.keys.inflight(self.node_id)
        failing = False
        while not self._stopping.is_set():
            try:
                raw = self._redis.blmove(
                    self.keys.pending, inflight, POLL_SECONDS, src="RIGHT", dest="LEFT"
                )
                if raw is None:
                    continue
                try:
                    job = decode(raw)
                except (ValueError, KeyError, AttributeError):
                    job = Job("unreadable", "?", raw)  # kept for a person to inspect
                    self._dead_letter(job, "not a job this version can read")
                else:
                    run_job(handler, job, self._dead_letter)
                self._done(inflight, raw)
                failing = False
            except REDIS_ERRORS as error:
                log.warning("redis queue worker: %s", error)
                gevent.sleep(RETRY_SECONDS)
            except Exception:
                if not failing:
                    log.exception("redis queue worker failed unexpectedly, will retry")
                failing = True
                gevent.sleep(RETRY_SECONDS)

    def _done(self, inflight: str, raw: bytes) -> None:
        """Take a delivered job off this node's in-flight list, trying until it goes: left
        there, it would be delivered again when the node stops (its in-flight jobs go back
        to `pending`) or dies (reaped). Only the stop's kill ends the tries."""
        failing = False
        while True:
            try:
                self._redis.lrem(inflight, 1, raw)
                return
            except REDIS_ERRORS as error:
                log.warning("redis queue worker: a delivered job stays in flight: %s", error)
            except Exception:
                if not failing:
                    log.exception("redis queue worker: a delivered job stays in flight")
                failing = True
            gevent.sleep(RETRY_SECONDS)

    def _feed(self) -> None:
        while True:
            write = self._buffer.get()
            failing = False
            while True:
                try:
                    self._write(write)
                    if not isinstance(write, EpochCheck):
                        self._depth.dec()
                    break
                except REDIS_ERRORS as error:
                    log.warning("redis queue: push failed, will retry: %s", error)
                except Exception:  # retried as after a Redis error: a dropped write loses jobs
                    if not failing:
                        log.exception("redis queue: push failed unexpectedly, will retry")
                    failing = True
                gevent.sleep(RETRY_SECONDS)
            self._buffer.task_done()

    def _write(self, write: Write) -> None:
        """Apply one write; a Redis that lost this node's holds gets them again first. May
        raise any Redis error: the feeder tries again, and every step is safe to repeat."""
        while True:
            try:
                self._write_once(write)
                return
            except HoldsLost:
                self._restore_holds()

    def _write_once(self, write: Write) -> None:
        if isinstance(write, HoldWrite):
            self.holds.hold(write)
            self.mirror.add(write, time.monotonic())
            self._hold_written.set()
        elif isinstance(write, CancelWrite):
            cancelled = self.holds.cancel_or_push(write)
            if cancelled.hold_id is None:
                return
            if cancelled.hold_id in self.mirror:
                self.mirror.forget([cancelled.hold_id])  # ours: nothing writes it again
            else:  # another node's, or ours dropped to the mirror's limit
                self.called_off.add(cancelled.hold_id, cancelled.left, time.monotonic())
        elif isinstance(write, EpochCheck):
            self._check_queued = False
            if self.holds.fetch_epoch() != self.holds.epoch:
                raise HoldsLost
        else:
            self._redis.lpush(self.keys.pending, write)

    def _restore_holds(self) -> None:
        """Redis lost its data (or this node never wrote to it): adopt its epoch, creating it
        in an empty Redis, call off again under it the other nodes' holds this node called
        off (their writers may write them again), then write every hold of the mirror again,
        earliest due first, with what is left of its delay. A hold Redis has already (written
        since the restart, or a repeat of this round) is not written twice: its `done` key
        says so."""
        while True:
            epoch = self.holds.fetch_epoch()
            called_off = self.called_off.ids()
            entries = self.mirror.by_due()
            now = time.monotonic()
            try:
                taken = self.holds.call_off(called_off, epoch)
                written = sum(self.holds.hold(entry.rewrite(now), epoch) for entry in entries)
            except HoldsLost:
                continue  # emptied again meanwhile
            break
        if self.holds.epoch is not None:
            log.warning(
                "redis queue: Redis lost its data; wrote the %d holds of this node again, "
                "called off %d of other nodes again (%d written again already)",
                written,
                len(called_off),
                taken,
            )
        self.holds.epoch = epoch
        self._hold_written.set()

    def _promote(self) -> None:
        """Move due holds (any node's) to `pending`, waking when the earliest is due; forget
        the mirror's holds found gone, and have the feeder write them again when Redis lost
        them."""
        failing = False
        while True:
            self._hold_written.clear()  # before reading: a hold written from here on wakes us
            started = time.monotonic()
            check = self.mirror.due(started, CHECK_BATCH)
            try:
                promoted = self.holds.promote(check)
            except REDIS_ERRORS as error:
                if not failing:
                    log.warning("redis queue: cannot move due holds, will retry: %s", error)
                failing = True
                gevent.sleep(RETRY_SECONDS)
                continue
            except Exception:
                if not failing:
                    log.exception("redis queue: moving due holds failed unexpectedly, will retry")
                failing = True
                gevent.sleep(RETRY_SECONDS)
                continue
            failing = False
            if promoted.lost:
                self._queue_epoch_check()
            else:
                self.mirror.forget(promoted.gone)
                self.called_off.expire(started)
            if promoted.moved >= PROMOTE_BATCH or len(promoted.gone) >= CHECK_BATCH:
                continue  # more may be due already
            wait = promoted.wait
            self._hold_written.wait(
                PROMOTE_POLL_SECONDS if wait is None else min(wait, PROMOTE_POLL_SECONDS)
            )

    def _queue_epoch_check(self) -> None:
        """One EpochCheck in the buffer at a time; a full buffer needs none: its next hold or
        cancel finds the epoch changed by itself."""
        if self._check_queued:
            return
        try:
            self._buffer.put_nowait(EpochCheck())
        except Full:
            return
        self._check_queued = True

    def _heartbeat(self) -> None:
        failing = False
        while True:
            gevent.sleep(self._lease / 3)
            try:
                self._beat()
                self.reap()
                metrics.QUEUE_SHARED_DEPTH.set(self._redis.llen(self.keys.pending))
                failing = False
            except REDIS_ERRORS as error:
                log.warning("redis queue heartbeat: %s", error)
            except Exception:
                if not failing:
                    log.exception("redis queue heartbeat failed unexpectedly, will retry")
                failing = True

    # -- helpers --

    def _beat(self) -> None:
        self._redis.set(self.keys.alive(self.node_id), b"1", px=int(self._lease * 1000))
        self._redis.sadd(self.keys.consumers, self.node_id)

    def _requeue(self, node: str) -> int:
        """Back to the right end of `pending`, where jobs are taken, so they go next. The
        in-flight list has its oldest job on the right; moving from its left keeps that one
        rightmost in `pending`."""
        count = 0
        while self._redis.lmove(
            self.keys.inflight(node), self.keys.pending, src="LEFT", dest="RIGHT"
        ):
            count += 1
        return count

    def _dead_letter(self, job: Job, reason: str) -> None:
        metrics.WEBHOOKS_DEAD_LETTERED.labels(job.app_id).inc()
        entry = {"job": encode(job).decode(), "reason": reason, "time_ms": int(time.time() * 1000)}
        try:
            self._redis.lpush(self.keys.dead, orjson.dumps(entry))
        except REDIS_ERRORS as error:
            log.error("redis queue: could not store dead letter (%s): %s", error, entry)

    def _drain_buffer_to_log(self) -> None:
        while not self._buffer.empty():
            write = self._buffer.get_nowait()
            if isinstance(write, EpochCheck):
                self._buffer.task_done()
                continue
            self._depth.dec()
            raws = (write,) if isinstance(write, bytes) else write.jobs
            self._dropped(write, [decode(raw) for raw in raws], "Redis unreachable at stop")
            self._buffer.task_done()

    def _dropped(self, write: Write, jobs: Sequence[Job], reason: str) -> None:
        """A write that never reached Redis. A hold or a cancel is worse than its jobs: a
        dropped cancel leaves the hold it was to call off to be delivered (a false
        member_removed), a dropped hold leaves nothing for the next re-join to cancel."""
        if isinstance(write, HoldWrite):
            log.error("redis queue: lost the hold under key %s (%s)", write.key, reason)
        elif isinstance(write, CancelWrite):
            log.error(
                "redis queue: lost the cancel of the hold under key %s (%s): a hold there is "
                "delivered when due instead of called off",
                write.key,
                reason,
            )
        for job in jobs:
            report_lost(log, "redis", job, reason)
