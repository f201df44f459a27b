"""RedisQueue's holds when Redis restarts empty: the node that wrote a hold writes it again
(queues/redis_holds.py). The feeder and the promoter run here, in this process, on a real
Redis that the test restarts; jobs are read from `pending` (no worker takes them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import gevent
import pytest
import redis

from socketrush.queues.base import Job, encode
from socketrush.queues.redis import RedisQueue
from socketrush.redis_client import RedisKeys
from tests.support.polling import wait_until
from tests.support.redis import RedisServer, RedisUnavailable

pytestmark = pytest.mark.timeout(60)

DELAY = 3.0  # seconds: the restart comes before it ends, on a loaded machine too
REMOVED = Job("member_removed", "424242", b'{"user_id":"u"}')
CALLED_OFF = Job("member_removed", "424242", b'{"user_id":"back"}')


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of this test's own: it restarts."""
    try:
        with RedisServer() as started:
            yield started
    except RedisUnavailable as problem:
        pytest.fail(str(problem), pytrace=False)


@pytest.fixture
def queue(server: RedisServer) -> Iterator[RedisQueue]:
    client = server.client()
    queue = RedisQueue(client, RedisKeys(f"t{uuid.uuid4().hex[:8]}"), node_id="me", lease=1.0)
    loops = [gevent.spawn(queue._feed), gevent.spawn(queue._promote)]
    yield queue
    gevent.killall(loops)
    client.close()


def pending(server: RedisServer, queue: RedisQueue) -> list[bytes]:
    with server.client() as client:
        return client.lrange(queue.keys.pending, 0, -1)


def held(server: RedisServer, queue: RedisQueue) -> int:
    with server.client() as client:
        return client.zcard(queue.holds.keys.held)


def settle(queue: RedisQueue, server: RedisServer, holds: int) -> None:
    """Every write reached Redis, which holds `holds` holds and has moved none yet."""
    wait_until(
        lambda: not queue._buffer.unfinished_tasks and held(server, queue) == holds,
        10,
        lambda: f"{held(server, queue)} held, {queue._buffer.unfinished_tasks} to write",
        gevent.sleep,
    )
    assert pending(server, queue) == []  # not due yet: the restart is what loses them


def safely(read):
    """`read` once Redis answers (the restarted server may still be coming up)."""
    try:
        return read()
    except redis.ConnectionError:
        return None


def test_a_hold_redis_lost_is_written_again_and_moved_when_due(
    server: RedisServer, queue: RedisQueue
) -> None:
    queue.hold("u", [REMOVED], DELAY)
    settle(queue, server, holds=1)
    server.restart()
    wait_until(
        lambda: safely(lambda: pending(server, queue)),
        DELAY + 15,
        lambda: "the hold Redis lost was never written again",
        gevent.sleep,
    )
    assert pending(server, queue) == [encode(REMOVED)]
    assert held(server, queue) == 0
    # Seen promoted, so a second restart would not send it twice.
    wait_until(lambda: not queue.mirror, 10, lambda: f"{len(queue.mirror)} kept", gevent.sleep)


def test_a_hold_called_off_before_redis_restarted_is_not_written_again(
    server: RedisServer, queue: RedisQueue
) -> None:
    queue.hold("back", [CALLED_OFF], DELAY)
    queue.cancel_or_push("back", [])  # the user is back: neither event goes
    queue.hold("u", [REMOVED], DELAY)
    settle(queue, server, holds=1)
    assert len(queue.mirror) == 1
    server.restart()
    wait_until(
        lambda: safely(lambda: pending(server, queue)),
        DELAY + 15,
        lambda: "the hold Redis lost was never written again",
        gevent.sleep,
    )
    # Both would be due by the PROMOTE that moved u's, the called-off one first.
    assert pending(server, queue) == [encode(REMOVED)]
    assert held(server, queue) == 0


def test_the_mirror_forgets_a_hold_once_it_was_moved(
    server: RedisServer, queue: RedisQueue
) -> None:
    for index in range(3):
        queue.hold(f"u{index}", [REMOVED], 0)
    wait_until(
        lambda: len(pending(server, queue)) == 3 and not queue.mirror,
        10,
        lambda: f"{len(pending(server, queue))} moved, {len(queue.mirror)} kept",
        gevent.sleep,
    )
