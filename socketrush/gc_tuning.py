"""Garbage-collector settings for a process that holds thousands of long-lived connections.

Every connection owns a few dozen container objects that live as long as it does. CPython's
full collection walks all of them, and by default runs each time the long-lived heap has
grown by a quarter and ten middle-generation collections have passed — during a connection
storm that is every few hundred connections, each pass 70–95 ms on this machine with 5000
sockets (measured with gc.callbacks in the connect benchmark: ~15 % of the server's CPU,
about a third of the connect rate). Short-lived garbage cycles are still found by the young
generations; only the rare full pass is spaced out, and the objects built at start-up
(modules, the Flask app, the node) are frozen so no full pass walks them again.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 700  # CPython's default
MIDDLE_THRESHOLD = 10  # CPython's default
FULL_THRESHOLD = 100  # CPython's default is 10: a full pass ten times less often


def tune_garbage_collector() -> None:
    """Call once the node is built and started, before it serves connections."""
    gc.collect()  # start-up garbage is collected before the survivors are frozen
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, FULL_THRESHOLD)
