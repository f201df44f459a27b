"""In-process queue: a bounded buffer drained by a pool of worker greenlets.

`push` never waits, so the actor that noticed an event never waits for an HTTP request. Several
workers keep one slow endpoint from holding every other delivery behind it. Nothing is lost
quietly: a full buffer, a failed job and a job still pending when shutdown gives up are each
logged at error level with the job, and failed jobs are kept in `dead_letters`. Held jobs
(queues/holds.py) wait in this process too: a graceful stop pushes them at once, a crash loses
them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence

import gevent
from gevent.queue import Full, JoinableQueue

from socketrush import metrics
from socketrush.queues.base import Handler, Job, Queue, report_lost, run_job
from socketrush.queues.holds import MemoryHolds

log = logging.getLogger(__name__)

DEAD_LETTERS_KEPT = 1000


class LocalQueue(Queue):
    def __init__(self, workers: int = 8, max_pending: int = 10_000) -> None:
        self._size = workers
        self._jobs: JoinableQueue = JoinableQueue(max_pending)
        self._workers: list[gevent.Greenlet] = []
        self._running: dict[gevent.Greenlet, Job] = {}
        self.dead_letters: deque[tuple[Job, str]] = deque(maxlen=DEAD_LETTERS_KEPT)
        self._depth = metrics.QUEUE_DEPTH.labels("local")
        self._holds = MemoryHolds(self.push)
        self._stopped = False

    def start(self, handler: Handler) -> None:
        self._workers = [gevent.spawn(self._work, handler) for _ in range(self._size)]

    def push(self, job: Job) -> None:
        if self._stopped:
            self._lost(job, "pushed after the queue stopped")
            return
        if not self._workers:
            raise RuntimeError("queue not started")
        try:
            self._jobs.put_nowait(job)
        except Full:
            self._lost(job, f"local queue full ({self._jobs.maxsize} jobs)")
        else:
            self._depth.inc()

    def hold(self, key: str, jobs: Sequence[Job], delay: float) -> None:
        self._holds.hold(key, jobs, delay)

    def cancel_or_push(self, key: str, jobs: Sequence[Job]) -> None:
        self._holds.cancel_or_push(key, jobs)

    def stop(self, timeout: float) -> None:
        """Push what is held, let the workers finish what is queued for up to `timeout`
        seconds, then report whatever is left (queued or mid-delivery) as lost."""
        self._holds.release_all()
        self._jobs.join(timeout)
        for worker in self._workers:
            job = self._running.pop(worker, None)
            if job is not None:
                self._lost(job, "shutdown interrupted its delivery")
        gevent.killall(self._workers, block=True, timeout=1)
        self._workers = []
        self._stopped = True
        while not self._jobs.empty():
            self._lost(self._jobs.get_nowait(), "shutdown came before its delivery")
            self._depth.dec()
            self._jobs.task_done()

    @property
    def pending(self) -> int:
        """Jobs waiting for a worker."""
        return self._jobs.qsize()

    def _work(self, handler: Handler) -> None:
        me = gevent.getcurrent()
        while True:
            job = self._jobs.get()
            self._depth.dec()
            self._running[me] = job
            try:
                run_job(handler, job, self._dead_letter)
            finally:
                self._running.pop(me, None)
                self._jobs.task_done()

    def _dead_letter(self, job: Job, reason: str) -> None:
        metrics.WEBHOOKS_DEAD_LETTERED.labels(job.app_id).inc()
        self.dead_letters.append((job, reason))

    def _lost(self, job: Job, reason: str) -> None:
        report_lost(log, "local", job, reason)
        self.dead_letters.append((job, reason))
