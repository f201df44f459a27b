"""Waiting for another process's state, which sends no event this process could await."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_INTERVAL = 0.05


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    what: Callable[[], str],
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Poll `condition` until it is true; fail with `what()` once `timeout` seconds pass.
    Tests serving in-process pass `gevent.sleep`, so the hub runs meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what()
        sleep(POLL_INTERVAL)
