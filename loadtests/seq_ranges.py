"""Which numbered events a listener session received, kept as runs of consecutive numbers.

A session receives its channels' events nearly in order, so each channel needs a run or two,
where a set of every (channel, number) grew with the length of the soak (millions of entries
in the runner's memory over a 30-minute soak). Membership answers exactly as the set did.
"""

from __future__ import annotations

from bisect import bisect_right


class SeqRanges:
    """Non-negative integers as sorted, disjoint, non-adjacent runs `[starts[i], ends[i])`."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def __contains__(self, number: int) -> bool:
        at = bisect_right(self._starts, number) - 1
        return at >= 0 and number < self._ends[at]

    def add(self, number: int) -> None:
        at = bisect_right(self._starts, number) - 1  # the run starting at or before it
        if at >= 0 and number < self._ends[at]:
            return
        joins_left = at >= 0 and self._ends[at] == number
        joins_right = at + 1 < len(self._starts) and self._starts[at + 1] == number + 1
        if joins_left and joins_right:  # fills the gap between two runs
            self._ends[at] = self._ends.pop(at + 1)
            del self._starts[at + 1]
        elif joins_left:
            self._ends[at] = number + 1
        elif joins_right:
            self._starts[at + 1] = number
        else:
            self._starts.insert(at + 1, number)
            self._ends.insert(at + 1, number + 1)

    def runs(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))


class Received:
    """(channel, number) pairs, one `SeqRanges` per channel."""

    __slots__ = ("_channels",)

    def __init__(self) -> None:
        self._channels: dict[str, SeqRanges] = {}

    def __contains__(self, key: tuple[str, int]) -> bool:
        ranges = self._channels.get(key[0])
        return ranges is not None and key[1] in ranges

    def add(self, key: tuple[str, int]) -> None:
        channel, number = key
        ranges = self._channels.get(channel)
        if ranges is None:
            ranges = self._channels[channel] = SeqRanges()
        ranges.add(number)
