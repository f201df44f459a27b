"""Deliver one webhook request: HTTP POST with retries, exponential backoff and a verdict.

It runs only in queue worker greenlets (urllib cooperates under gevent's monkey-patching), so a
slow or dead endpoint holds a worker, never a socket or channel actor.

Outcome rules: 2xx is done; 408, 429, 5xx, timeouts and connection errors are retried with
backoff `base * 2**n` capped at `cap`, up to `max_attempts` tries; any other status (3xx, 4xx)
will never succeed as sent, so it is not retried. A request that is not delivered raises
`DeliveryFailed`, and the queue moves the job to its dead-letter list.

For a queue that redelivers (SQS) the sender makes one try per call and raises `RetryLater`
with the backoff instead of sleeping: the queue hides the job that long, so a node that dies
while waiting loses nothing, and the job's `attempt` (counted by the queue) decides the last try.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import gevent
import orjson

from socketrush import metrics
from socketrush.queues.base import Job, RetryLater

log = logging.getLogger(__name__)

JOB_KIND = "webhook"
ID_HEADER = "X-Socket-Rush-Webhook-Id"  # the same on every retry, so receivers can dedupe
RETRYABLE_STATUSES = frozenset({408, 429})


class DeliveryFailed(Exception):
    """The request was given up on; the message says why (last status or error)."""


class Refused(Exception):
    """Raised by a `send` whose destination refused the request for good (an SNS topic that
    does not exist, say): not retried; the message says why."""


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


def make_job(app_id: str, url: str, body: bytes, headers: dict[str, str]) -> Job:
    """Freeze one request as a queue job; the id header is fixed here, once, for all tries."""
    payload = {
        "url": url,
        "body": body.decode(),
        "headers": {**headers, ID_HEADER: uuid.uuid4().hex},
    }
    return Job(JOB_KIND, app_id, orjson.dumps(payload))


def request_of(job: Job) -> Request:
    payload = orjson.loads(job.payload)
    return Request(payload["url"], payload["body"].encode(), payload["headers"])


def post(request: Request, timeout: float) -> int:
    """POST and return the HTTP status; raises OSError for network failures and timeouts."""
    http_request = urllib.request.Request(
        request.url, data=request.body, headers=request.headers, method="POST"
    )
    try:
        with urllib.request.urlopen(http_request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:  # non-2xx responses arrive as exceptions
        error.close()
        return error.code


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 10
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 4.0  # Pusher asks endpoints to answer within 4 seconds

    def delay(self, failed_attempts: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (failed_attempts - 1))


class WebhookAttempt(NamedTuple):
    """One try at one request, for whoever watches deliveries (the dashboard)."""

    app_id: str
    url: str
    body: bytes
    attempt: int
    status: int | None  # None: no HTTP answer (timeout, connection error)
    outcome: str

    def events(self) -> list[dict[str, object]]:
        """Name and channel of each event the request carries (the body is ours: see
        events.body)."""
        try:
            return [
                {"name": event["name"], "channel": event.get("channel")}
                for event in orjson.loads(self.body)["events"]
            ]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return []


def _ignore(_attempt: WebhookAttempt) -> None:
    pass


def _retryable(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


class WebhookSender:
    """A queue handler: `sender(job)` returns once delivered or raises DeliveryFailed (or, with
    `retry_here=False`, RetryLater after a failed try that may succeed later)."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        send: Callable[[Request, float], int] = post,
        sleep: Callable[[float], None] = gevent.sleep,
        observe: Callable[[WebhookAttempt], None] = _ignore,
        retry_here: bool = True,
    ) -> None:
        """`observe` hears of every attempt and must not block."""
        self.policy = policy
        self._send = send
        self._sleep = sleep
        self._observe = observe
        self._retry_here = retry_here

    def __call__(self, job: Job) -> None:
        request = request_of(job)
        attempt = job.attempt
        while True:
            outcome = self._try(job, request, attempt)
            if outcome is None:
                return
            if attempt >= self.policy.max_attempts:
                break
            delay = self.policy.delay(attempt)
            metrics.WEBHOOKS_RETRIED.labels(job.app_id).inc()
            log.info(
                "webhook to %s failed (%s), attempt %d/%d; retrying in %.2fs",
                request.url,
                outcome,
                attempt,
                self.policy.max_attempts,
                delay,
            )
            if not self._retry_here:
                raise RetryLater(delay, outcome)
            self._sleep(delay)
            attempt += 1
        metrics.WEBHOOKS_FAILED.labels(job.app_id).inc()
        raise DeliveryFailed(f"{request.url} failed {attempt} times, last: {outcome}")

    def _try(self, job: Job, request: Request, attempt: int) -> str | None:
        """One try (POST or Publish): None once delivered, else what went wrong if a retry may
        succeed; raises DeliveryFailed when no retry can."""
        status: int | None = None
        refused = False
        try:
            status = self._send(request, self.policy.timeout)
            outcome = f"HTTP {status}"
        except OSError as error:
            outcome = f"{type(error).__name__}: {error}"
        except Refused as refusal:
            outcome, refused = str(refusal), True
        self._observe(
            WebhookAttempt(job.app_id, request.url, request.body, attempt, status, outcome)
        )
        if refused:
            metrics.WEBHOOKS_FAILED.labels(job.app_id).inc()
            raise DeliveryFailed(f"{request.url} refused the webhook ({outcome})")
        if status is None:
            return outcome
        if 200 <= status < 300:
            metrics.WEBHOOKS_SENT.labels(job.app_id).inc()
            return None
        if not _retryable(status):
            metrics.WEBHOOKS_FAILED.labels(job.app_id).inc()
            raise DeliveryFailed(f"{request.url} refused the webhook ({outcome})")
        return outcome
