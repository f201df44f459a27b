"""The queue interface: fire-and-forget job submission, processed by background workers."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from socketrush import metrics

log = logging.getLogger(__name__)

LOGGED_PAYLOAD = 1000  # characters of a lost job's payload in its log line


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of background work, e.g. one webhook request for one app.

    `attempt` counts the tries of this job, this one included; only a queue that `redelivers`
    counts beyond 1 (it is not part of the encoded job)."""

    kind: str
    app_id: str
    payload: bytes
    attempt: int = 1


class RetryLater(Exception):
    """Raised by the handler of a queue that `redelivers`: this try failed, a later one may
    not; the queue offers the job again after `delay` seconds."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


# Returns when the job is done; raises when it failed for good (the queue dead-letters it).
Handler = Callable[[Job], None]


def encode(job: Job) -> bytes:
    """A job as the bytes a shared queue (Redis, SQS) stores."""
    return orjson.dumps({"kind": job.kind, "app_id": job.app_id, "payload": job.payload.decode()})


def decode(raw: bytes) -> Job:
    """Raises ValueError, KeyError or AttributeError for bytes that are not an encoded job."""
    data = orjson.loads(raw)
    return Job(data["kind"], data["app_id"], data["payload"].encode())


class Queue(ABC):
    """`push` never blocks the caller; `start` attaches the handler that processes jobs.

    `hold` and `cancel_or_push` delay a job that a later event may call off (a member_removed
    webhook, cancelled by a quick re-join). The local and SQS queues hold in memory; the
    Redis queue holds in Redis, where every node can cancel or deliver a hold.

    A queue that `redelivers` retries failed jobs itself (SQS: the message becomes visible
    again): its handler makes one try per call and raises RetryLater to be called again.
    Otherwise the handler retries within the call and raises only when it gives up.
    """

    redelivers = False

    @abstractmethod
    def start(self, handler: Handler) -> None: ...

    @abstractmethod
    def push(self, job: Job) -> None: ...

    @abstractmethod
    def hold(self, key: str, jobs: Sequence[Job], delay: float) -> None:
        """Push `jobs` after `delay` seconds, unless `cancel_or_push(key, ...)` comes first.
        Never blocks; holds under one key stack up (see queues/holds.py)."""

    @abstractmethod
    def cancel_or_push(self, key: str, jobs: Sequence[Job]) -> None:
        """If a hold under `key` is still waiting, drop the latest one and `jobs` with it
        (they cancel out); otherwise push `jobs`. Never blocks."""

    @abstractmethod
    def stop(self, timeout: float) -> None:
        """A graceful stop within `timeout` seconds: nothing taken may vanish unlogged. Holds
        in memory (local, SQS) are pushed at once, since no one else could send them; holds
        in Redis stay there, to be sent when due by whichever node runs next."""


def run_job(handler: Handler, job: Job, dead_letter: Callable[[Job, str], None]) -> None:
    """Run one job; any failure goes to `dead_letter` with its reason, never back to the
    worker loop, so one bad job cannot stop a worker."""
    try:
        handler(job)
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        log.error("dead-lettered %s job for app %s: %s", job.kind, job.app_id, reason)
        dead_letter(job, reason)


def report_lost(logger: logging.Logger, queue: str, job: Job, reason: str) -> None:
    """A job this process will never hand on (a full buffer, a stop, a refusal): logged at
    error level, so a person can send it again, and counted as dead-lettered. Its payload is
    cut at LOGGED_PAYLOAD characters: a webhook body may be hundreds of KB, and a full buffer
    loses jobs by the thousand."""
    metrics.WEBHOOKS_DEAD_LETTERED.labels(job.app_id).inc()
    payload = job.payload.decode(errors="replace")
    if len(payload) > LOGGED_PAYLOAD:
        payload = f"{payload[:LOGGED_PAYLOAD]}... ({len(job.payload)} bytes)"
    logger.error(
        "%s queue: lost %s job for app %s (%s): %s", queue, job.kind, job.app_id, reason, payload
    )
