"""Two nodes on one Redis, or one NATS, share each app's HTTP API limits: real server
processes, signed requests alternating between the nodes, answers asserted exactly."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.support.bus import Bus
from tests.support.http_api import VALID_EVENT, post_event, signed
from tests.support.server import APP_ID, ServerProcess

LIMIT = 4
TOO_MANY_EVENTS = (429, {"error": "Rate limit exceeded: too many backend events per second"})
TOO_MANY_READS = (429, {"error": "Rate limit exceeded: too many read requests per second"})

Answer = tuple[int, Any]


def in_one_second(requests: list[Callable[[], Answer]]) -> list[Answer]:
    """The answers to `requests`, sent in order within one second of the wall clock, which is
    the servers' window (the nodes run on this machine, so they read the same clock).

    Each try starts just after a second begins, so it starts in a window nobody has used and
    has the whole second; a try that still crossed into the next second is repeated.
    """
    for _ in range(3):
        time.sleep(1 - time.time() % 1)  # the window is the clock itself: wait for its edge
        started = int(time.time())
        answers = [request() for request in requests]
        if int(time.time()) == started:
            return answers
    raise AssertionError(f"could not send {len(requests)} requests within one second")


def start_limited(nodes_on: Callable, bus: Bus, flag: str) -> list[ServerProcess]:
    return nodes_on(bus, 2, flag, str(LIMIT))


def test_backend_events_are_counted_across_nodes(bus: Bus, nodes_on) -> None:
    nodes = start_limited(nodes_on, bus, "--app-max-backend-events-per-second")
    answers = in_one_second(
        [lambda node=nodes[i % 2]: post_event(node, VALID_EVENT) for i in range(LIMIT + 2)]
    )
    assert answers == [(200, {})] * LIMIT + [TOO_MANY_EVENTS] * 2


def test_a_batch_counts_each_event_across_nodes(bus: Bus, nodes_on) -> None:
    first, second = start_limited(nodes_on, bus, "--app-max-backend-events-per-second")

    def batch(node: ServerProcess, size: int) -> Callable[[], Answer]:
        body = json.dumps({"batch": [VALID_EVENT] * size}).encode()
        return lambda: signed(node, "POST", f"/apps/{APP_ID}/batch_events", body)

    answers = in_one_second([batch(first, 3), batch(second, 2), batch(second, 1), batch(first, 1)])
    assert answers == [(200, {}), TOO_MANY_EVENTS, (200, {}), TOO_MANY_EVENTS]


def test_read_requests_are_counted_across_nodes(bus: Bus, nodes_on) -> None:
    nodes = start_limited(nodes_on, bus, "--app-max-read-requests-per-second")
    path = f"/apps/{APP_ID}/channels"
    answers = in_one_second(
        [lambda node=nodes[i % 2]: signed(node, "GET", path) for i in range(LIMIT + 2)]
    )
    assert answers == [(200, {"channels": {}})] * LIMIT + [TOO_MANY_READS] * 2
