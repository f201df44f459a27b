"""read_until_done and watch_reads: a plain socket's bytes reach the consumer from the event
loop, in order, until it says stop or the stream ends; the waiting greenlet, or the `ended`
callback when none waits, gets the consumer's errors."""

from __future__ import annotations

import gevent
import pytest
from gevent import socket as gsocket
from gevent.event import Event

from socketrush.transport.inbound import read_until_done, watch_reads
from socketrush.transport.wire import Wire


@pytest.fixture
def pair():
    ours, theirs = gsocket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_bytes_arrive_in_order_until_the_consumer_stops(pair) -> None:
    ours, theirs = pair
    received: list[bytes] = []

    def consume(data) -> bool:
        received.append(bytes(data))
        if bytes(data).endswith(b"two"):
            theirs.sendall(b"three")  # still queued when the consumer stops
            return False
        theirs.sendall(b"two")
        return True

    theirs.sendall(b"one")
    reader = gevent.spawn(read_until_done, Wire(ours), consume)
    assert reader.get(timeout=2) is None
    assert received == [b"one", b"two"]
    ours.setblocking(False)
    assert ours.recv(10) == b"three"  # left unread in the socket


def test_the_end_of_the_stream_ends_the_wait(pair) -> None:
    ours, theirs = pair
    received: list[bytes] = []
    reader = gevent.spawn(
        read_until_done, Wire(ours), lambda data: received.append(bytes(data)) or True
    )
    theirs.sendall(b"last words")
    gevent.idle()
    theirs.close()
    assert reader.get(timeout=2) is None
    assert b"".join(received) == b"last words"


def test_shutting_the_socket_down_ends_the_wait(pair) -> None:
    """How a connection cuts itself off (`Wire.abort`)."""
    ours, _theirs = pair
    wire = Wire(ours)
    reader = gevent.spawn(read_until_done, wire, lambda data: True)
    gevent.idle()
    wire.abort()
    assert reader.get(timeout=2) is None


def test_an_error_in_the_consumer_is_raised_in_the_waiting_greenlet(pair) -> None:
    ours, theirs = pair

    def consume(data) -> bool:
        raise ValueError(bytes(data))

    reader = gevent.spawn(read_until_done, Wire(ours), consume)
    theirs.sendall(b"bad")
    with pytest.raises(ValueError, match="bad"):
        reader.get(timeout=2)
    theirs.sendall(b"unread")  # the callback is gone: nothing else is consumed
    ours.setblocking(False)
    assert ours.recv(10) == b"unread"


def test_a_killed_reader_stops_watching_the_socket(pair) -> None:
    ours, theirs = pair
    received: list[bytes] = []
    reader = gevent.spawn(
        read_until_done, Wire(ours), lambda data: received.append(bytes(data)) or True
    )
    gevent.idle()
    reader.kill()
    # A sentinel reader on another socket, made readable at the same moment: the loop runs
    # every ready watcher in one pass before it wakes us, so a watcher left on `ours` would
    # have consumed "after" by the time the sentinel's event is seen.
    sentinel_ours, sentinel_theirs = gsocket.socketpair()
    seen = Event()
    sentinel = gevent.spawn(read_until_done, Wire(sentinel_ours), lambda data: seen.set() or False)
    theirs.sendall(b"after")
    sentinel_theirs.sendall(b"now")
    assert seen.wait(2)
    sentinel.join(2)
    sentinel_ours.close()
    sentinel_theirs.close()
    assert received == []
    ours.setblocking(False)
    assert ours.recv(10) == b"after"


def test_watch_reads_needs_no_waiting_greenlet_and_reports_the_end(pair) -> None:
    ours, theirs = pair
    received: list[bytes] = []
    ends: list[BaseException | None] = []
    done = Event()

    def ended(error: BaseException | None) -> None:
        ends.append(error)
        done.set()

    watch_reads(Wire(ours), lambda data: received.append(bytes(data)) or True, ended)
    theirs.sendall(b"hello")
    theirs.close()
    assert done.wait(2)
    assert (b"".join(received), ends) == (b"hello", [None])


def test_watch_reads_hands_a_consumer_error_to_ended_and_stops(pair) -> None:
    ours, theirs = pair
    ends: list[BaseException | None] = []
    done = Event()

    def consume(data) -> bool:
        raise ValueError(bytes(data))

    def ended(error: BaseException | None) -> None:
        ends.append(error)
        done.set()

    watch_reads(Wire(ours), consume, ended)
    theirs.sendall(b"bad")
    assert done.wait(2)
    assert [type(e) for e in ends] == [ValueError] and ends[0].args == (b"bad",)
    theirs.sendall(b"unread")
    ours.setblocking(False)
    assert ours.recv(10) == b"unread"
