"""What the SQS queue sends: runs of jobs within the queue's size limit, and the answers of
SQS that sending again cannot change."""

from __future__ import annotations

from botocore.exceptions import ClientError

from socketrush.queues.base import Job, encode
from socketrush.queues.sqs_messages import fifo_fields, never_taken, size_runs


def job(size: int, name: str = "j") -> Job:
    """A job whose encoded body is exactly `size` bytes."""
    overhead = len(encode(Job(name, "app", b"")))
    return Job(name, "app", b"x" * (size - overhead))


def test_jobs_go_in_order_in_runs_within_the_limit() -> None:
    jobs = [job(400, "a"), job(400, "b"), job(200, "c"), job(100, "d")]
    runs, too_long = size_runs(jobs, 1000)
    assert [[j.kind for j, _ in run] for run in runs] == [["a", "b", "c"], ["d"]]
    assert [[len(body) for _, body in run] for run in runs] == [[400, 400, 200], [100]]
    assert all(body == encode(j) for run in runs for j, body in run)
    assert too_long == []


def test_a_job_over_the_limit_alone_is_set_apart_and_the_others_keep_their_order() -> None:
    jobs = [job(600, "a"), job(1001, "big"), job(300, "b"), job(200, "c")]
    runs, too_long = size_runs(jobs, 1000)
    assert [[j.kind for j, _ in run] for run in runs] == [["a", "b"], ["c"]]
    assert [(j.kind, size) for j, size in too_long] == [("big", 1001)]
    assert size_runs([job(1000)], 1000)[0][0][0][1] == encode(job(1000))  # exactly the limit
    assert size_runs([], 1000) == ([], [])


def refusal(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no", "Type": "Sender"}}, "Send")


def test_refusals_that_sending_again_cannot_change() -> None:
    for code in (
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "BatchRequestTooLong",
        "InvalidParameterValue",
        "InvalidMessageContents",
    ):
        assert never_taken(refusal(code)), code
    for code in ("AWS.SimpleQueueService.NonExistentQueue", "AccessDenied", "ThrottlingException"):
        assert not never_taken(refusal(code)), code
    assert not never_taken(OSError("connection refused"))


def test_fifo_fields() -> None:
    assert fifo_fields("https://sqs/1/q", "app", b"{}") == {}
    fields = fifo_fields("https://sqs/1/q.fifo", "app", b"{}")
    assert fields["MessageGroupId"] == "app" and len(fields["MessageDeduplicationId"]) == 64
