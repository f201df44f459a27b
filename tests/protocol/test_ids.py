"""Socket ids have Pusher's "<digits>.<digits>" shape and do not repeat."""

from __future__ import annotations

import os
import re

from gevent.monkey import get_original

from socketrush.protocol.ids import new_socket_id


def test_format() -> None:
    for _ in range(200):
        assert re.fullmatch(r"\d+\.\d+", new_socket_id())


def test_unique() -> None:
    assert len({new_socket_id() for _ in range(10_000)}) == 10_000


def test_a_forked_child_does_not_repeat_its_parents_next_ids() -> None:
    new_socket_id()  # the pool now holds ids the parent has not handed out yet
    read_end, write_end = os.pipe()
    # The system's fork: once tests/loadtests has imported locust, which monkey-patches the
    # whole test process, `os.fork` is gevent's, whose child hangs while the hub's threadpool
    # has a thread left by an earlier test. The hook under test runs on either fork.
    pid = get_original("os", "fork")()
    if pid == 0:  # the child reports its first id and leaves at once
        os.write(write_end, new_socket_id().encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.waitpid(pid, 0)
    os.close(read_end)
    parent_ids = {new_socket_id() for _ in range(600)}  # more than one pool's worth
    assert re.fullmatch(r"\d+\.\d+", child_id)
    assert child_id not in parent_ids
