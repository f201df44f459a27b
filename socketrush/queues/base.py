"""The queue interface: fire-and-forget job submission, processed by background workers."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of background work, e.g. one webhook request for one app."""

    kind: str
    app_id: str
    payload: bytes


# Returns when the job is done; raises when it failed for good (the queue dead-letters it).
Handler = Callable[[Job], None]


class Queue(ABC):
    """`push` never blocks the caller; `start` attaches the handler that processes jobs."""

    @abstractmethod
    def start(self, handler: Handler) -> None: ...

    @abstractmethod
    def push(self, job: Job) -> None: ...

    @abstractmethod
    def stop(self, timeout: float) -> None: ...


def run_job(handler: Handler, job: Job, dead_letter: Callable[[Job, str], None]) -> None:
    """Run one job; any failure goes to `dead_letter` with its reason, never back to the
    worker loop, so one bad job cannot stop a worker."""
    try:
        handler(job)
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        log.error("dead-lettered %s job for app %s: %s", job.kind, job.app_id, reason)
        dead_letter(job, reason)
