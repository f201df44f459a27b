"""Waiting for another process's state, which sends no event this process could await."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_INTERVAL = 0.05


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    what: Callable[[], str],
    sleep: Callable[[float], object] | None = None,
) -> None:
    """Poll `condition` until it is true; fail with `what()` once `timeout` seconds pass.

    Sleeps with `time.sleep` as it is when called, not as it was at import: once locust's
    tests have monkey-patched this process for gevent, that sleep yields to the hub, so this
    process's own servers (a webhook Receiver's threads are greenlets then) keep answering
    while a test waits. Tests serving in-process may pass `gevent.sleep` explicitly."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what()
        (sleep or time.sleep)(POLL_INTERVAL)
