"""HoldMirror (queues/hold_mirror.py): what a node keeps of its holds for a Redis that restarts
empty, and that it keeps no more than it must."""

from __future__ import annotations

import logging

import pytest

from socketrush.queues.hold_mirror import REWRITE_GRACE_MS, CalledOff, HoldMirror
from socketrush.queues.redis_holds import HoldWrite


def write(op_id: str, delay_ms: int = 1000) -> HoldWrite:
    return HoldWrite(op_id, f"key of {op_id}", (b"job",), delay_ms)


def test_a_write_again_keeps_its_id_and_what_is_left_of_its_delay_or_the_grace() -> None:
    mirror = HoldMirror()
    mirror.add(write("a", 1000 + REWRITE_GRACE_MS + 1000), now=100.0)
    mirror.add(write("b", 500), now=100.0)
    mirror.add(write("c", 1000 + REWRITE_GRACE_MS // 2), now=100.0)
    assert [entry.rewrite(101.0) for entry in mirror.by_due()] == [
        write("b", REWRITE_GRACE_MS),  # overdue: other nodes may call it off again first
        write("c", REWRITE_GRACE_MS),  # less left than the grace
        write("a", REWRITE_GRACE_MS + 1000),
    ]


def test_only_due_holds_are_checked_oldest_first_and_at_most_so_many() -> None:
    mirror = HoldMirror()
    for index in range(4):
        mirror.add(write(f"h{index}"), now=float(index))  # due at 1, 2, 3, 4
    assert mirror.due(now=2.5, most=10) == ["h0", "h1"]
    assert mirror.due(now=10.0, most=3) == ["h0", "h1", "h2"]
    mirror.forget(["h0", "h2", "never kept"])
    assert mirror.due(now=10.0, most=10) == ["h1", "h3"]


def test_a_repeated_write_is_kept_once() -> None:
    mirror = HoldMirror()
    mirror.add(write("a"), now=0.0)
    mirror.add(write("a"), now=5.0)
    assert len(mirror) == 1
    assert mirror.by_due()[0].due == 1.0


def test_beyond_its_limit_the_oldest_go_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mirror = HoldMirror(limit=2)
    for index in range(4):
        mirror.add(write(f"h{index}"), now=float(index))
    assert len(mirror) == 2
    assert mirror.dropped == 2
    assert [entry.write.op_id for entry in mirror.by_due()] == ["h2", "h3"]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_a_called_off_hold_is_kept_its_delay_left_and_the_margin() -> None:
    called_off = CalledOff(margin=10.0)
    called_off.add("a", left=3.0, now=100.0)  # ends at 113
    called_off.add("b", left=1.0, now=101.0)  # ends at 112, after "a" in line
    called_off.expire(112.5)
    assert called_off.ids() == ["a", "b"]
    called_off.expire(113.0)
    assert called_off.ids() == []


def test_beyond_its_limit_the_oldest_called_off_go_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    called_off = CalledOff(margin=1.0, limit=2)
    for index in range(4):
        called_off.add(f"h{index}", left=0.0, now=float(index))
    assert called_off.ids() == ["h2", "h3"]
    assert called_off.dropped == 2
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
