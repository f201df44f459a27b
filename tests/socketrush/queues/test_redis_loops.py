"""RedisQueue's greenlets outlive an error that is not Redis': each runs alone and nothing would
start it again, so one bad round must not end it (held removals never sent, pushes stalled).

Each loop runs here in this process, by itself, on a real Redis; the first calls of one of its
steps fail (twice, to show the traceback is logged once per run of failures, not per try).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import pytest
import redis
from redis.exceptions import RedisClusterException

from socketrush.queues.base import Job, encode
from socketrush.queues.redis import RedisQueue
from socketrush.queues.redis_holds import HoldWrite
from socketrush.redis_client import RedisKeys
from tests.support.polling import wait_until
from tests.support.redis import RedisServer

pytestmark = pytest.mark.timeout(60)

JOB = Job("member_removed", "424242", b'{"user_id":"u"}')
BAD_REPLY = ValueError("invalid literal for int() with base 10: b'OK'")
# (error raised, the level and message it is logged with)
ERRORS = [
    pytest.param(BAD_REPLY, "ERROR", id="a bug"),
    pytest.param(RedisClusterException("no node answers"), "WARNING", id="cluster down"),
]


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with redis_server.client() as plain:
        yield plain


@pytest.fixture
def queue(redis_server: RedisServer) -> RedisQueue:
    keys = RedisKeys(f"t{uuid.uuid4().hex[:8]}")
    return RedisQueue(redis.Redis.from_url(redis_server.url), keys, node_id="me", lease=0.3)


def failing(times: int, error: Exception, then: Callable[..., Any]) -> Callable[..., Any]:
    """`then`, except that its first `times` calls raise `error`."""
    left = [times]

    def call(*args: Any, **kwargs: Any) -> Any:
        if left[0]:
            left[0] -= 1
            raise error
        return then(*args, **kwargs)

    return call


def run_until(loop: Callable[[], object], done: Callable[[], object], what: str) -> None:
    runner = gevent.spawn(loop)
    try:
        wait_until(done, 15, lambda: what, gevent.sleep)
        assert not runner.dead
    finally:
        runner.kill()


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, bool]]:
    return [(r.levelname, r.exc_info is not None) for r in caplog.records]


@pytest.mark.parametrize(("error", "level"), ERRORS)
def test_the_promoter_goes_on_and_moves_the_due_hold(
    queue: RedisQueue,
    client: redis.Redis,
    error: Exception,
    level: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue.holds.epoch = queue.holds.fetch_epoch()
    queue.holds.hold(HoldWrite("op", "k", (encode(JOB),), 0))
    monkeypatch.setattr(queue.holds, "promote", failing(2, error, queue.holds.promote))
    caplog.set_level(logging.WARNING, logger="socketrush.queues.redis")
    run_until(queue._promote, lambda: client.llen(queue.keys.pending), "the hold never moved")
    assert client.lrange(queue.keys.pending, 0, -1) == [encode(JOB)]
    assert logged(caplog) == [(level, level == "ERROR")]


@pytest.mark.parametrize(("error", "level"), ERRORS)
def test_the_feeder_goes_on_and_writes_the_push_once(
    queue: RedisQueue,
    client: redis.Redis,
    error: Exception,
    level: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(queue._redis, "lpush", failing(2, error, queue._redis.lpush))
    caplog.set_level(logging.WARNING, logger="socketrush.queues.redis")
    queue.push(JOB)
    run_until(queue._feed, lambda: client.llen(queue.keys.pending), "the push never arrived")
    assert client.lrange(queue.keys.pending, 0, -1) == [encode(JOB)]
    # The Redis error is logged at each try, as before; a bug's traceback once.
    assert logged(caplog) == [(level, level == "ERROR")] * (1 if level == "ERROR" else 2)


@pytest.mark.parametrize(("error", "level"), ERRORS)
def test_a_worker_goes_on_and_delivers_the_job(
    queue: RedisQueue,
    client: redis.Redis,
    error: Exception,
    level: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client.lpush(queue.keys.pending, encode(JOB))
    monkeypatch.setattr(queue._redis, "blmove", failing(2, error, queue._redis.blmove))
    caplog.set_level(logging.WARNING, logger="socketrush.queues.redis")
    delivered: list[Job] = []

    def handler(job: Job) -> None:
        delivered.append(job)
        queue._stopping.set()  # the loop ends after this job

    worker = gevent.spawn(queue._work, handler)
    assert worker.get(timeout=15) is None
    assert delivered == [JOB]
    assert client.llen(queue.keys.inflight("me")) == 0
    assert logged(caplog) == [(level, level == "ERROR")] * (1 if level == "ERROR" else 2)


@pytest.mark.parametrize(("error", "level"), ERRORS)
def test_a_delivered_job_leaves_the_in_flight_list_after_errors(
    queue: RedisQueue,
    client: redis.Redis,
    error: Exception,
    level: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Left in flight, the job would be handed back on stop and delivered a second time."""
    client.lpush(queue.keys.pending, encode(JOB))
    monkeypatch.setattr(queue._redis, "lrem", failing(2, error, queue._redis.lrem))
    caplog.set_level(logging.WARNING, logger="socketrush.queues.redis")
    delivered: list[Job] = []

    def handler(job: Job) -> None:
        delivered.append(job)
        queue._stopping.set()  # the loop ends after this job

    worker = gevent.spawn(queue._work, handler)
    assert worker.get(timeout=15) is None
    assert delivered == [JOB]
    assert client.llen(queue.keys.inflight("me")) == 0
    assert client.llen(queue.keys.pending) == 0
    assert logged(caplog) == [(level, level == "ERROR")] * (1 if level == "ERROR" else 2)


@pytest.mark.parametrize(("error", "level"), ERRORS)
def test_the_heartbeat_goes_on_and_reaps(
    queue: RedisQueue,
    client: redis.Redis,
    error: Exception,
    level: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client.sadd(queue.keys.consumers, "dead")
    client.lpush(queue.keys.inflight("dead"), encode(JOB))
    monkeypatch.setattr(queue, "reap", failing(2, error, queue.reap))
    caplog.set_level(logging.WARNING, logger="socketrush.queues.redis")
    run_until(queue._heartbeat, lambda: client.llen(queue.keys.pending), "never reaped")
    assert client.lrange(queue.keys.pending, 0, -1) == [encode(JOB)]
    heartbeat = [(level, level == "ERROR")] * (1 if level == "ERROR" else 2)
    assert logged(caplog) == [*heartbeat, ("WARNING", False)]  # then: re-queued 1 job
