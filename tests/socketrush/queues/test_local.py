"""LocalQueue: a worker pool that never blocks `push`, dead-letters failures, drains on stop."""

from __future__ import annotations

import logging

import gevent
import pytest
from gevent.event import Event

from socketrush.queues.base import Job
from socketrush.queues.local import LocalQueue


def job(n: int) -> Job:
    return Job("test", "424242", str(n).encode())


def test_jobs_run_in_parallel_workers_and_push_never_waits() -> None:
    release = Event()
    started: list[bytes] = []
    done: list[bytes] = []

    def handler(item: Job) -> None:
        started.append(item.payload)
        release.wait()
        done.append(item.payload)

    queue = LocalQueue(workers=3)
    queue.start(handler)
    for n in range(5):
        queue.push(job(n))  # returns at once even though every worker will block
    assert queue.pending == 5
    gevent.sleep(0)  # one hub turn lets each worker take a job; nothing else is awaited
    assert started == [b"0", b"1", b"2"]
    assert queue.pending == 2
    release.set()
    queue.stop(5)
    assert sorted(done) == [b"0", b"1", b"2", b"3", b"4"]


def test_a_failing_job_is_dead_lettered_and_the_worker_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[bytes] = []

    def handler(item: Job) -> None:
        if item.payload == b"1":
            raise RuntimeError("endpoint gone")
        done.append(item.payload)

    queue = LocalQueue(workers=1)
    queue.start(handler)
    with caplog.at_level(logging.ERROR):
        for n in range(3):
            queue.push(job(n))
        queue.stop(5)
    assert done == [b"0", b"2"]
    assert list(queue.dead_letters) == [(job(1), "RuntimeError: endpoint gone")]
    assert "dead-lettered test job for app 424242: RuntimeError: endpoint gone" in caplog.text


def test_stop_reports_jobs_it_could_not_finish(caplog: pytest.LogCaptureFixture) -> None:
    never = Event()
    queue = LocalQueue(workers=1)
    queue.start(lambda item: never.wait())
    queue.push(job(0))
    queue.push(job(1))
    gevent.sleep(0)
    with caplog.at_level(logging.ERROR):
        queue.stop(0.1)
    assert [reason for _, reason in queue.dead_letters] == [
        "shutdown interrupted its delivery",
        "shutdown came before its delivery",
    ]
    assert [item for item, _ in queue.dead_letters] == [job(0), job(1)]
    assert "local queue: lost test job for app 424242 (shutdown came before its delivery): 1" in (
        caplog.text
    )


def test_a_full_queue_refuses_loudly(caplog: pytest.LogCaptureFixture) -> None:
    queue = LocalQueue(workers=1, max_pending=1)
    queue.start(lambda item: None)
    with caplog.at_level(logging.ERROR):
        queue.push(job(0))
        queue.push(job(1))
    assert "local queue: lost test job for app 424242 (local queue full (1 jobs)): 1" in caplog.text
    queue.stop(5)
    assert list(queue.dead_letters) == [(job(1), "local queue full (1 jobs)")]


def test_push_before_start_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="queue not started"):
        LocalQueue().push(job(0))


def test_held_jobs_are_pushed_when_due_unless_called_off() -> None:
    done: list[bytes] = []
    arrived = Event()

    def handler(item: Job) -> None:
        done.append(item.payload)
        arrived.set()

    queue = LocalQueue(workers=1)
    queue.start(handler)
    queue.hold("kept", [job(1)], 0.05)
    queue.hold("called off", [job(2)], 0.05)
    queue.cancel_or_push("called off", [job(3)])  # neither 2 nor 3 goes
    queue.cancel_or_push("nothing held", [job(4)])  # pushed at once
    with gevent.Timeout(5):
        while len(done) < 2:
            arrived.clear()
            arrived.wait()
    queue.stop(5)
    assert done == [b"4", b"1"]


def test_stop_pushes_what_is_still_held() -> None:
    done: list[bytes] = []
    queue = LocalQueue(workers=1)
    queue.start(lambda item: done.append(item.payload))
    queue.hold("k", [job(1)], 60)
    queue.hold("k", [job(2)], 60)
    queue.stop(5)
    assert done == [b"1", b"2"]


def test_a_hold_during_stop_goes_at_once() -> None:
    """A notifier still at work when the stop began: its hold is not left to a later timer."""
    done: list[bytes] = []
    release = Event()

    def handler(item: Job) -> None:
        release.wait()
        done.append(item.payload)

    queue = LocalQueue(workers=1)
    queue.start(handler)
    queue.push(job(1))
    stopper = gevent.spawn(queue.stop, 5)
    gevent.sleep(0)  # the stop released the holds and waits for job 1
    queue.hold("k", [job(2)], 60)
    release.set()
    stopper.get(timeout=10)
    assert done == [b"1", b"2"]


def test_a_hold_after_stop_is_reported_lost_at_once(caplog: pytest.LogCaptureFixture) -> None:
    queue = LocalQueue(workers=1)
    queue.start(lambda item: None)
    queue.stop(5)
    with caplog.at_level(logging.ERROR):
        queue.hold("k", [job(1)], 0.01)
    assert len(queue._holds) == 0  # no timer left to fire into the stopped queue
    assert list(queue.dead_letters) == [(job(1), "pushed after the queue stopped")]
    assert "local queue: lost test job for app 424242 (pushed after the queue stopped): 1" in (
        caplog.text
    )
