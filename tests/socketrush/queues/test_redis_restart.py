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
    assert not queue.called_off  # its own: nothing writes it again
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


class Node:
    """A RedisQueue on the test's keys whose feeder and promoter can stop and start again:
    a test orders which node sees the restarted Redis first."""

    def __init__(self, server: RedisServer, keys: RedisKeys, node_id: str) -> None:
        self.client = server.client()
        self.queue = RedisQueue(self.client, keys, node_id=node_id, lease=1.0)
        self.loops: list[gevent.Greenlet] = []

    def start(self, promoter: bool = True) -> None:
        self.loops = [gevent.spawn(self.queue._feed)]
        if promoter:
            self.loops.append(gevent.spawn(self.queue._promote))

    def stop(self) -> None:
        gevent.killall(self.loops)
        self.loops = []

    def written(self) -> bool:
        return not self.queue._buffer.unfinished_tasks

    def restored(self, server: RedisServer) -> bool:
        """This node adopted the restarted Redis' epoch: it wrote what it keeps for it."""
        with server.client() as client:
            epoch = safely(lambda: client.get(self.queue.holds.keys.epoch))
        return epoch is not None and epoch.decode() == self.queue.holds.epoch


@pytest.fixture
def nodes(server: RedisServer) -> Iterator[tuple[Node, Node]]:
    """Node "a" and node "b" on the same keys, loops not started."""
    keys = RedisKeys(f"t{uuid.uuid4().hex[:8]}")
    both = (Node(server, keys, "a"), Node(server, keys, "b"))
    yield both
    for node in both:
        node.stop()
        node.client.close()


ADDED = Job("member_added", "424242", b'{"user_id":"u"}')


def called_off_on_b(server: RedisServer, a: Node, b: Node, delay: float) -> None:
    """A holds u's removal, B's re-join calls it off: neither event goes. A keeps the hold
    (it checks it only once due), B keeps its id; then both stop before Redis restarts."""
    a.queue.hold("u", [REMOVED], delay)
    wait_until(
        lambda: a.written() and held(server, a.queue) == 1, 10, lambda: "never held", gevent.sleep
    )
    b.queue.cancel_or_push("u", [ADDED])
    wait_until(
        lambda: b.written() and held(server, a.queue) == 0,
        10,
        lambda: "never called off",
        gevent.sleep,
    )
    assert pending(server, a.queue) == []
    assert len(a.queue.mirror) == 1
    assert len(b.queue.called_off) == 1
    a.stop()
    b.stop()


@pytest.mark.parametrize("b_first", [True, False], ids=["b calls off first", "a writes first"])
def test_a_hold_another_node_called_off_stays_off_when_redis_restarts_empty(
    server: RedisServer, nodes: tuple[Node, Node], b_first: bool
) -> None:
    a, b = nodes
    for node in nodes:
        node.start()
    called_off_on_b(server, a, b, DELAY)
    server.restart()  # within the delay
    first, second = (b, a) if b_first else (a, b)
    first.start()
    wait_until(lambda: first.restored(server), 15, lambda: "never restored", gevent.sleep)
    if not b_first:
        assert held(server, a.queue) == 1  # a wrote it again; b's call off is still to come
    second.start()
    # A forgets the hold once due and found gone: moved to pending, or called off again.
    wait_until(lambda: not a.queue.mirror, DELAY + 15, lambda: "a never saw it gone", gevent.sleep)
    assert pending(server, a.queue) == []
    assert held(server, a.queue) == 0
    # B keeps the id no longer than the hold's delay and its margin (a lease).
    wait_until(lambda: not b.queue.called_off, 15, lambda: "b kept the id", gevent.sleep)


def test_an_overdue_hold_another_node_called_off_is_called_off_within_the_grace(
    server: RedisServer, nodes: tuple[Node, Node]
) -> None:
    """A writes a hold due while Redis was down again with a grace, not moved at once: B's
    call off, a little later, still finds it."""
    a, b = nodes
    for node in nodes:
        node.start(promoter=False)  # nothing moves the hold, due at once, before B's cancel
    called_off_on_b(server, a, b, 0)
    server.restart()
    a.start()
    wait_until(lambda: a.restored(server), 15, lambda: "never restored", gevent.sleep)
    assert held(server, a.queue) == 1
    b.start()
    wait_until(lambda: not a.queue.mirror, 15, lambda: "a never saw it gone", gevent.sleep)
    assert pending(server, a.queue) == []
    assert held(server, a.queue) == 0
