"""Held jobs in this process's memory: pushed after a delay unless a later event cancels them.

A member_removed webhook waits out `webhook_member_removed_delay_ms` as a *hold* under its
(app, channel, user) key; the member_added of a quick re-join cancels it, and the two cancel
out (neither is sent). Holds under one key form a stack, not a slot: in a cluster a user can
leave on one node and, while that removal is held, join and leave again elsewhere; each
removal is paired with at most one added, so every added still meets its removed.

The local and SQS queues keep their holds here, so a node that dies (SIGKILL, OOM) loses the
ones it holds, and only its own re-joins cancel them. The Redis queue keeps them in Redis
instead (queues/redis_holds.py), where any node cancels or delivers them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from actors import Cancellable
from socketrush.queues.base import Job


@dataclass(slots=True, eq=False)  # each hold is itself: found by identity
class _Hold:
    jobs: Sequence[Job]
    timer: Cancellable


class MemoryHolds:
    """`push` must not block: it runs from a loop timer when a hold falls due."""

    def __init__(self, push: Callable[[Job], None]) -> None:
        self._push = push
        self._held: dict[str, list[_Hold]] = {}
        self._closed = False  # released at stop: holds from now on go at once

    def __len__(self) -> int:
        return sum(len(stack) for stack in self._held.values())

    def hold(self, key: str, jobs: Sequence[Job], delay: float) -> None:
        if self._closed:
            # A notifier still at work after the stop began (its join timed out): a timer
            # would fire into a stopped queue, so the jobs go now, while the queue may still
            # send them (or report them lost).
            for job in jobs:
                self._push(job)
            return
        stack = self._held.setdefault(key, [])
        entry = _Hold(jobs, Cancellable())
        entry.timer = Cancellable.after(delay, lambda: self._due(key, entry))
        stack.append(entry)

    def cancel_or_push(self, key: str, jobs: Sequence[Job]) -> bool:
        """Drop the latest hold under `key` and forget `jobs` (True), or push `jobs` (False)."""
        stack = self._held.get(key)
        if stack:
            stack.pop().timer.cancel()
            if not stack:
                del self._held[key]
            return True
        for job in jobs:
            self._push(job)
        return False

    def release_all(self) -> int:
        """Push every held job now (a graceful stop: nothing may wait any longer), and every
        later hold at once; returns how many holds there were."""
        self._closed = True
        released = 0
        for stack in self._held.values():
            for entry in stack:
                entry.timer.cancel()
                for job in entry.jobs:
                    self._push(job)
                released += 1
        self._held.clear()
        return released

    def _due(self, key: str, entry: _Hold) -> None:
        stack = self._held.get(key, [])
        if entry not in stack:
            return  # called off or released already: its timer fired regardless
        stack.remove(entry)
        if not stack:
            del self._held[key]
        for job in entry.jobs:
            self._push(job)
