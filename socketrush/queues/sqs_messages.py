"""What the SQS queue sends as messages, and what SQS refuses for good: pure functions.

A batch (SendMessageBatch) holds at most ten messages, and at most the queue's
`MaximumMessageSize` bytes in all; one message longer than that can never be sent. What SQS
answers such a request (too long, characters it does not take) will not change if the same
request is sent again.
"""

from __future__ import annotations

import hashlib

from botocore.exceptions import ClientError

from socketrush.queues.base import Job, encode

Run = list[tuple[Job, bytes]]  # jobs and their encoded bodies, in order
_REFUSALS = ("BatchRequestTooLong", "InvalidParameterValue", "InvalidMessageContents")


def size_runs(jobs: list[Job], limit: int) -> tuple[list[Run], list[tuple[Job, int]]]:
    """`jobs` encoded, in order, in runs of at most `limit` bytes in all; and the jobs that
    are longer than `limit` on their own, with their size."""
    runs: list[Run] = []
    too_long: list[tuple[Job, int]] = []
    size = limit + 1  # the first job starts a run
    for job in jobs:
        body = encode(job)
        if len(body) > limit:
            too_long.append((job, len(body)))
            continue
        if size + len(body) > limit:
            runs.append([])
            size = 0
        runs[-1].append((job, body))
        size += len(body)
    return runs, too_long


def never_taken(error: Exception) -> bool:
    """Whether SQS refused a request for what it holds, so that sending it again as it is
    can never succeed (its code may carry the prefix `AWS.SimpleQueueService.`)."""
    if not isinstance(error, ClientError):
        return False
    return str(error.response.get("Error", {}).get("Code", "")).endswith(_REFUSALS)


def fifo_fields(url: str, app_id: str, body: bytes) -> dict[str, str]:
    """A FIFO queue wants a group (one per app keeps each app's order) and a deduplication id
    (the job's bytes, which hold the webhook id, so two jobs never collide)."""
    if not url.endswith(".fifo"):
        return {}
    return {"MessageGroupId": app_id, "MessageDeduplicationId": hashlib.sha256(body).hexdigest()}
