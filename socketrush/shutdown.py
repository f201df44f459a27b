"""The graceful stop of one node, the same under `socketrush serve` and in a gunicorn worker.

Order matters: the node stops being ready first, then every connection is told 4200
"reconnect elsewhere" and the node stops, which waits for those disconnects and drains the
webhooks they cause. The listener stays open meanwhile: `/ready` answers 503 for load
balancers, and a WebSocket upgrade (or an HTTP API call) is refused with HTTP 503 (see
`Err.SERVER_DRAINING`), so that clients back off instead of reconnecting to this node at once.

gunicorn's gevent workers handle SIGTERM (graceful: stop accepting, wait for requests) and
SIGINT/SIGQUIT (quick: exit now) themselves, with Python signal handlers set before the app
is loaded. `drain_before_worker_exit` wraps those handlers: the node drains first, then the
worker's own handler runs and the worker exits the way gunicorn intends, with nothing left
to lose.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

import gevent

from socketrush.node import Node
from socketrush.protocol.errors import Err

log = logging.getLogger(__name__)

WORKER_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)

SignalHandler = Callable[[int, FrameType | None], object]


def drain(node: Node, grace_period: float) -> None:
    """Stop `node` gracefully within about `grace_period` seconds; blocks the calling greenlet.
    The caller closes the listener afterwards (gunicorn closes a worker's once its handler
    for the signal has run)."""
    log.info("shutting down (grace period %ss)", grace_period)
    node.ready = False  # /ready answers 503 and upgrades are refused from here on
    closing = node.close_connections(Err.SERVER_SHUTTING_DOWN)
    log.info("told %d connections to reconnect elsewhere", closing)
    node.stop(grace_period)


def drain_before_worker_exit(node: Node, grace_period: float) -> None:
    """In a gunicorn worker: on SIGTERM, SIGINT or SIGQUIT drain `node`, then run the worker's
    own handler for that signal. Call it from the main thread after gunicorn set its handlers
    (importing the app happens then). A repeated signal during the drain is not queued: the
    first one decides how the worker exits once drained."""
    draining: list[gevent.Greenlet] = []

    def then_exit(signum: int, previous: SignalHandler | int | None) -> None:
        drain(node, grace_period)
        if callable(previous):
            previous(signum, None)

    for signum in WORKER_SIGNALS:
        previous = signal.getsignal(signum)

        def on_signal(
            signum: int, frame: FrameType | None, previous: SignalHandler | int | None = previous
        ) -> None:
            # Signal handlers must not block: the drain runs in its own greenlet.
            if not draining:
                draining.append(gevent.spawn(then_exit, signum, previous))

        signal.signal(signum, on_signal)
