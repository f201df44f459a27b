"""In-process queue: a bounded actor whose greenlet runs jobs one after another.

Jobs are handed over with `tell`, so the actor that noticed an event never waits for an HTTP
request to finish.
"""

from __future__ import annotations

import logging

from actors import Actor, MailboxFull
from socketrush.queues.base import Handler, Job, Queue

log = logging.getLogger(__name__)


class _Worker(Actor):
    def __init__(self, handler: Handler, mailbox_size: int) -> None:
        super().__init__(mailbox_size=mailbox_size, name="local-queue")
        self._handler = handler

    def receive(self, message: object) -> None:
        assert isinstance(message, Job)
        self._handler(message)


class LocalQueue(Queue):
    """Jobs wait in the worker's mailbox; a full mailbox drops the job with a warning."""

    def __init__(self, max_pending: int = 10_000) -> None:
        self._max_pending = max_pending
        self._worker: _Worker | None = None

    def start(self, handler: Handler) -> None:
        self._worker = _Worker(handler, self._max_pending).start()

    def push(self, job: Job) -> None:
        if self._worker is None:
            raise RuntimeError("queue not started")
        try:
            self._worker.tell(job)
        except MailboxFull:
            log.warning(
                "local queue full (%d jobs): dropped a %s job for app %s",
                self._max_pending,
                job.kind,
                job.app_id,
            )

    def stop(self, timeout: float) -> None:
        if self._worker is not None:
            self._worker.stop(drain=True)
            self._worker.join(timeout)
