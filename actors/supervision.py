"""What happens to an actor whose receive() raised while handling a tell.

The decision lives outside the actor so an owner (say, the actor that spawned a family of
children) can pick restart-or-stop per error type and clean up after a child it lost.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from actors.actor import Actor

logger = logging.getLogger("actors")

# Told about every restart a supervisor decides: how an application counts restarts (metrics,
# alerts) without this runtime knowing what a metric is.
RestartHook = Callable[["Actor", BaseException], None]


class RestartPolicy(enum.Enum):
    RESTART = "restart"  # on_restart(error), then carry on with the next message
    STOP = "stop"  # stop the actor (queued messages dropped) and report child_stopped


class Supervisor:
    """Decides restart or stop for crashed children, with a guard against crash loops.

    A child that would be restarted more than `max_restarts` times within `within` seconds is
    stopped instead: a deterministic crash would otherwise burn CPU and flood the logs forever.
    `max_restarts=None` turns the guard off, for children whose stopping would hurt more than
    a crash loop (an owner that cannot yet replace them).
    One supervisor may watch many children; restart history is kept per child and forgotten
    when the child is garbage collected.

    child_failed and child_stopped run in the child's greenlet. An owner that is itself an
    actor must therefore not touch its own state there: it should `tell` itself a message.
    The same holds for `on_restart`, called with the child and its error each time a crash is
    settled by a restart (not when the crash-loop guard stops the child instead).
    """

    def __init__(
        self,
        *,
        policy: RestartPolicy = RestartPolicy.RESTART,
        max_restarts: int | None = 5,
        within: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        on_restart: RestartHook | None = None,
    ) -> None:
        if max_restarts is not None and max_restarts < 0:
            raise ValueError("max_restarts must be >= 0")
        if within <= 0:
            raise ValueError("within must be > 0")
        self.policy = policy
        self.max_restarts = max_restarts
        self.within = within
        self._clock = clock
        self._on_restart = on_restart
        self._restarts: WeakKeyDictionary[Actor, deque[float]] = WeakKeyDictionary()

    def policy_for(self, actor: Actor, error: BaseException) -> RestartPolicy:
        """Override to choose per actor or per error type; the default is `self.policy`."""
        return self.policy

    def child_failed(self, actor: Actor, error: BaseException, message: object) -> RestartPolicy:
        """Called by a crashed child; returns what the child must do next."""
        policy = self.policy_for(actor, error)
        if policy is RestartPolicy.RESTART and not self._may_restart(actor):
            logger.error(
                "actor %s restarted %d times within %gs and crashed again: stopping it",
                actor.name,
                self.max_restarts,
                self.within,
            )
            return RestartPolicy.STOP
        if policy is RestartPolicy.RESTART and self._on_restart is not None:
            try:
                self._on_restart(actor, error)
            except Exception:  # counting a restart must never change the decision
                logger.exception("actor %s: on_restart hook failed", actor.name)
        return policy

    def child_stopped(self, actor: Actor, error: BaseException) -> None:
        """Called after a child stopped because of `error` (its on_stop already ran).

        Override to clean up what the child owned elsewhere; the default does nothing.
        """

    def _may_restart(self, actor: Actor) -> bool:
        if self.max_restarts is None:
            return True
        now = self._clock()
        history = self._restarts.setdefault(actor, deque())
        while history and now - history[0] >= self.within:
            history.popleft()
        if len(history) >= self.max_restarts:
            return False
        history.append(now)
        return True
