"""SQS queue: webhook jobs in an Amazon SQS queue that every node long-polls.

A job is one SQS message (the same encoding as the Redis queue). A node receives up to
`batch_size` messages at a time, never more than it has idle workers for, and hides them from
other nodes for `visibility_timeout` seconds while it sends them. Then:

- delivered: the message is deleted;
- a failure a retry may fix (5xx, timeout, ...): the message stays and is hidden for the
  sender's backoff (ChangeMessageVisibility), so any node tries it again after that; SQS counts
  the receives (`ApproximateReceiveCount`), which is the job's `attempt`;
- a failure for good (a 4xx, or the last attempt): the message is moved to the queue's
  dead-letter queue (found through its redrive policy) and deleted; without one it is logged
  at error level and deleted. A redrive policy also catches a job whose node keeps dying.

A node that dies mid-delivery (even SIGKILL) deletes nothing, so the message reappears after its
visibility timeout and another node sends it: delivery is at least once, with the same webhook
id header each time. A graceful stop hands unfinished jobs back at once instead. Pushing goes
through a local buffer drained by one greenlet in batches of up to ten (SendMessageBatch), so
the actor that pushes never waits for AWS, and jobs wait out an SQS outage instead of being
lost. A batch also stays within the queue's `MaximumMessageSize` in all (SQS refuses a longer
one whole); a job longer than that on its own can never be sent, nor dead-lettered (the
dead-letter queue has the same limit): it is logged as refused and counted, and the jobs
around it go on. A job just under the limit may not fit in its dead-letter send either, which
adds the reason as a message attribute (counted in the size): that send is refused and logged,
and the job stays in the queue and comes back until the redrive policy moves it. FIFO queues (`.fifo`) work too: jobs are grouped by app, so one app's retried
request holds back that app's later ones, as FIFO order demands. Every `DEPTH_EVERY_SECONDS`
the queue's `ApproximateNumberOfMessages` is read into `socketrush_queue_shared_depth`.

Held jobs (a member_removed waiting out its delay, queues/holds.py) stay in the node's memory
until due: SQS can delay a message (DelaySeconds) but not withdraw one before it is received,
so a quick re-join could not call it off. A graceful stop sends them at once; a node that
dies loses the ones it held.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import gevent
import orjson
from botocore.exceptions import BotoCoreError, ClientError
from gevent.event import Event
from gevent.pool import Pool
from gevent.queue import Empty, Full, JoinableQueue

from socketrush import metrics
from socketrush.aws_client import describe
from socketrush.queues.base import Handler, Job, Queue, RetryLater, decode, report_lost
from socketrush.queues.holds import MemoryHolds
from socketrush.queues.sqs_messages import Run, fifo_fields, never_taken, size_runs

log = logging.getLogger(__name__)

# One long poll's wait: an idle node asks 12 times a minute, and a graceful stop waits at most
# this long for the receive under way, which it cannot cancel (what a cut receive would have
# returned is hidden from every node for the visibility timeout).
RECEIVE_WAIT_SECONDS = 5
MAX_BUFFERED_PUSHES = 100_000
SEND_BATCH = 10  # SendMessageBatch takes at most 10 messages
RETRY_SECONDS = 1.0  # pause after an SQS error before trying again
DEPTH_EVERY_SECONDS = 10  # one GetQueueAttributes per node: 8,640 requests a day
REASON_ATTRIBUTE = "socketrush-dead-letter-reason"
RECEIVE_COUNT = "ApproximateReceiveCount"  # SQS counts receives: the job's attempt
_AWS_ERRORS = (BotoCoreError, ClientError)


class SqsQueue(Queue):
    redelivers = True

    def __init__(
        self,
        client: Any,
        url: str,
        *,
        workers: int = 8,
        batch_size: int = 10,
        pause: float = 0.0,
        visibility_timeout: int = 30,
    ) -> None:
        self._sqs = client
        self.url = url
        self._batch_size = batch_size
        self._pause = pause
        self._visibility = visibility_timeout
        self._pool = Pool(workers)
        self._buffer: JoinableQueue = JoinableQueue(MAX_BUFFERED_PUSHES)
        self._stopping = Event()
        self._feeder: gevent.Greenlet | None = None
        self._poller: gevent.Greenlet | None = None
        # Taken from the buffer by the feeder, neither in SQS nor refused yet: what a stop
        # that cuts the feeder short loses.
        self._sending: list[Job] = []
        self._receipts: dict[gevent.Greenlet, str] = {}  # messages being delivered
        self._dead_letter_url: str | None = None
        self._depth = metrics.QUEUE_DEPTH.labels("sqs")
        self._gauge: gevent.Greenlet | None = None
        self._holds = MemoryHolds(self.push)
        self._stopped = False  # the feeder is gone

    # -- Queue --

    def start(self, handler: Handler) -> None:
        self._feeder = gevent.spawn(self._feed)
        self._poller = gevent.spawn(self._poll, handler)
        self._gauge = gevent.spawn(self._measure)

    def push(self, job: Job) -> None:
        if self._stopped:  # nothing sends the buffer any more
            self._lost(job, "pushed after the queue stopped")
            return
        try:
            self._buffer.put_nowait(job)
        except Full:
            self._lost(job, f"push buffer full ({MAX_BUFFERED_PUSHES} jobs)")
        else:
            self._depth.inc()

    def hold(self, key: str, jobs: Sequence[Job], delay: float) -> None:
        self._holds.hold(key, jobs, delay)

    def cancel_or_push(self, key: str, jobs: Sequence[Job]) -> None:
        self._holds.cancel_or_push(key, jobs)

    def stop(self, timeout: float) -> None:
        """Within `timeout`: held jobs and buffered pushes are sent, the receive under way
        ends (what it brings is handed back at once) and deliveries under way finish. Jobs
        still unfinished then are handed back (made visible) for any node to send."""
        deadline = time.monotonic() + timeout
        self._holds.release_all()
        self._buffer.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        running = [g for g in (self._poller, *self._pool) if g is not None]
        gevent.joinall(running, timeout=max(0.0, deadline - time.monotonic()))
        unfinished = list(self._receipts.values())
        helpers = (self._feeder, self._poller, self._gauge)
        gevent.killall([g for g in helpers if g], block=True, timeout=1)
        self._stopped = True
        self._pool.kill(block=True, timeout=1)
        for receipt in unfinished:
            self._hide(receipt, 0)
        if unfinished:
            log.warning("sqs queue: handed %d unfinished jobs back on stop", len(unfinished))
        for job in self._sending:
            self._lost(job, "SQS unreachable at stop")
        while True:
            try:
                self._lost(self._buffer.get_nowait(), "SQS unreachable at stop")
            except Empty:
                break
            self._depth.dec()
            self._buffer.task_done()

    # -- receiving and delivering --

    def _poll(self, handler: Handler) -> None:
        self._dead_letter_url = self._find_dead_letter_queue()
        while not self._stopping.is_set():
            self._pool.wait_available()
            wanted = max(1, min(self._batch_size, self._pool.free_count()))
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=wanted,
                    WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                    VisibilityTimeout=self._visibility,
                    # The attempt; also by its older name, which SQS look-alikes may only know.
                    MessageSystemAttributeNames=[RECEIVE_COUNT],
                    AttributeNames=[RECEIVE_COUNT],
                )
            except _AWS_ERRORS as error:
                log.warning("sqs queue: receive failed, will retry: %s", describe(error))
                gevent.sleep(RETRY_SECONDS)
                continue
            except Exception:  # never let the only poller die: this node would stop consuming
                log.exception("sqs queue: receive failed unexpectedly, will retry")
                gevent.sleep(RETRY_SECONDS)
                continue
            messages = response.get("Messages", [])
            if self._stopping.is_set():  # received while the node stops: for other nodes
                for message in messages:
                    self._hide(message["ReceiptHandle"], 0)
                return
            for message in messages:
                self._pool.spawn(self._deliver, handler, message)
            if self._pause:
                gevent.sleep(self._pause)

    def _deliver(self, handler: Handler, message: dict) -> None:
        receipt = message["ReceiptHandle"]
        me = gevent.getcurrent()
        self._receipts[me] = receipt
        try:
            self._run(handler, message, receipt)
        finally:
            self._receipts.pop(me, None)

    def _run(self, handler: Handler, message: dict, receipt: str) -> None:
        body = message["Body"].encode()
        try:
            job = decode(body)
        except (ValueError, KeyError, AttributeError):
            unreadable = Job("unreadable", "?", body)  # kept for a person to inspect
            self._dead_letter(unreadable, body, receipt, "not a job this version can read")
            return
        attempt = int(message.get("Attributes", {}).get(RECEIVE_COUNT, 1))
        try:
            handler(replace(job, attempt=attempt))
        except RetryLater as later:
            self._hide(receipt, math.ceil(later.delay))
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            log.error("dead-lettered %s job for app %s: %s", job.kind, job.app_id, reason)
            self._dead_letter(job, body, receipt, reason)
        else:
            self._delete(receipt)

    def _attributes(self, *names: str) -> dict[str, str]:
        return self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=list(names)).get(
            "Attributes", {}
        )

    def _find_dead_letter_queue(self) -> str | None:
        """The URL of the dead-letter queue the redrive policy names; asked until SQS answers."""
        while not self._stopping.is_set():
            try:
                policy = self._attributes("RedrivePolicy").get("RedrivePolicy")
                if not policy:
                    log.warning(
                        "sqs queue %s has no redrive policy: webhooks that fail for good are "
                        "logged and dropped; give it a dead-letter queue (docs/webhooks.md)",
                        self.url,
                    )
                    return None
                arn = str(orjson.loads(policy)["deadLetterTargetArn"])
                _, _, _, _, account, name = arn.split(":", 5)
                return self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)[
                    "QueueUrl"
                ]
            except _AWS_ERRORS as error:
                log.warning(
                    "sqs queue %s: cannot read its redrive policy, will retry: %s",
                    self.url,
                    describe(error),
                )
            except (ValueError, KeyError) as error:
                log.error("sqs queue %s: unreadable redrive policy (%s)", self.url, error)
                return None
            gevent.sleep(RETRY_SECONDS)
        return None

    def _measure(self) -> None:
        """The shared queue's depth for the metrics, as the Redis queue's heartbeat reads its
        own. (An outage is logged by the receives and pushes; this one waits quietly.)"""
        while True:
            try:
                waiting = self._attributes("ApproximateNumberOfMessages")
                metrics.QUEUE_SHARED_DEPTH.set(int(waiting["ApproximateNumberOfMessages"]))
            except (*_AWS_ERRORS, KeyError, ValueError) as error:
                log.debug("sqs queue: depth not read: %s", error)
            gevent.sleep(DEPTH_EVERY_SECONDS)

    # -- pushing --

    def _feed(self) -> None:
        limit = self._message_limit()  # pushes wait in the buffer until SQS tells it
        while True:
            batch = [self._buffer.get()]
            while len(batch) < SEND_BATCH:
                try:
                    batch.append(self._buffer.get_nowait())
                except Empty:
                    break
            runs, too_long = size_runs(batch, limit)
            for job, size in too_long:
                self._lost(job, f"{size} bytes, over the queue's {limit}-byte message limit")
            self._sending = [job for run in runs for job, _ in run]
            for run in runs:
                self._send(run)
            for _ in batch:
                self._depth.dec()
                self._buffer.task_done()

    def _message_limit(self) -> int:
        """The queue's MaximumMessageSize: the most one message, and one batch in all, may
        hold (SQS's own limits for both are never below it)."""
        while True:
            try:
                return int(self._attributes("MaximumMessageSize")["MaximumMessageSize"])
            except _AWS_ERRORS as error:
                log.warning("sqs queue: cannot read its message size limit: %s", describe(error))
            except (KeyError, ValueError) as error:
                log.error("sqs queue: unreadable MaximumMessageSize (%r)", error)
                return 262_144  # SQS's long-standing 256 KiB: never too large
            gevent.sleep(RETRY_SECONDS)

    def _send(self, jobs: Run) -> None:
        """SendMessageBatch until every job is in, or refused by SQS for good (then logged).
        A batch SQS can never take as it is goes again one job at a time."""
        pending = {str(index): pair for index, pair in enumerate(jobs)}
        while pending:
            entries = [self._entry(entry_id, *pair) for entry_id, pair in pending.items()]
            try:
                response = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            except _AWS_ERRORS as error:
                if not never_taken(error):
                    log.warning("sqs queue: push failed, will retry: %s", describe(error))
                    gevent.sleep(RETRY_SECONDS)
                    continue
                if len(pending) > 1:  # one at a time, to refuse only what SQS refuses
                    for pair in pending.values():
                        self._send([pair])
                else:
                    [(job, _)] = pending.values()
                    self._refused(job, describe(error))
                return
            failures = {failed["Id"]: failed for failed in response.get("Failed", [])}
            retry: dict[str, tuple[Job, bytes]] = {}
            for entry_id, pair in pending.items():
                failed = failures.get(entry_id)
                if failed is None:
                    self._sending.remove(pair[0])  # in SQS
                elif failed.get("SenderFault"):
                    self._refused(pair[0], f"{failed.get('Code')}: {failed.get('Message', '')}")
                else:
                    retry[entry_id] = pair
            if retry:
                log.warning("sqs queue: %d pushes failed, will retry", len(retry))
                gevent.sleep(RETRY_SECONDS)
            pending = retry

    def _refused(self, job: Job, reason: str) -> None:
        self._sending.remove(job)
        self._lost(job, f"SQS refused it ({reason})")

    def _entry(self, entry_id: str, job: Job, body: bytes) -> dict:
        return {
            "Id": entry_id,
            "MessageBody": body.decode(),
            **fifo_fields(self.url, job.app_id, body),
        }

    # -- helpers --

    def _delete(self, receipt: str) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)
        except _AWS_ERRORS as error:  # it reappears and is sent again: the id dedupes it
            log.warning("sqs queue: could not delete a delivered job: %s", describe(error))

    def _hide(self, receipt: str, seconds: int) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=seconds
            )
        except _AWS_ERRORS as error:  # it reappears after the visibility timeout instead
            log.warning("sqs queue: could not reschedule a job: %s", describe(error))

    def _dead_letter(self, job: Job, body: bytes, receipt: str, reason: str) -> None:
        metrics.WEBHOOKS_DEAD_LETTERED.labels(job.app_id).inc()
        if self._dead_letter_url is None:
            log.error(
                "sqs queue: no dead-letter queue, dropped %s job for app %s (%s): %s",
                job.kind,
                job.app_id,
                reason,
                body.decode(errors="replace"),
            )
        else:
            try:
                self._sqs.send_message(
                    QueueUrl=self._dead_letter_url,
                    MessageBody=body.decode(),
                    MessageAttributes={
                        REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000]}
                    },
                    **fifo_fields(self._dead_letter_url, job.app_id, body),
                )
            except _AWS_ERRORS as error:  # kept: it comes back, and SQS's redrive may take it
                log.error("sqs queue: could not dead-letter a job: %s", describe(error))
                return
        self._delete(receipt)

    def _lost(self, job: Job, reason: str) -> None:
        """A job that never reached SQS."""
        report_lost(log, "sqs", job, reason)
