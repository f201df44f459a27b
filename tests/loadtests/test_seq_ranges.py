"""The soak's record of received events answers as a set would, in runs instead of entries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loadtests.seq_ranges import Received, SeqRanges


@given(st.lists(st.integers(min_value=0, max_value=60), max_size=200))
def test_membership_is_that_of_a_set(numbers: list[int]) -> None:
    ranges, seen = SeqRanges(), set()
    for number in numbers:
        assert (number in ranges) == (number in seen)
        ranges.add(number)
        seen.add(number)
    assert {n for n in range(-1, 62) if n in ranges} == seen
    runs = ranges.runs()
    assert all(end < start for (_, end), (start, _) in zip(runs, runs[1:], strict=False))


def test_events_in_order_take_one_run() -> None:
    ranges = SeqRanges()
    for number in range(1000, 100_000):
        ranges.add(number)
    assert ranges.runs() == [(1000, 100_000)]


def test_a_late_event_closes_the_gap() -> None:
    ranges = SeqRanges()
    for number in (5, 7, 9, 6, 8):
        ranges.add(number)
    assert ranges.runs() == [(5, 10)]
    ranges.add(3)
    assert ranges.runs() == [(3, 4), (5, 10)]
    assert 4 not in ranges


def test_channels_are_kept_apart() -> None:
    received = Received()
    received.add(("soak-stream-0", 1))
    assert ("soak-stream-0", 1) in received
    assert ("soak-stream-1", 1) not in received
    assert ("soak-stream-0", 2) not in received
