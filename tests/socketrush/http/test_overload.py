"""A publish flood through the real HTTP API against a small `publish_queue_limit`: the API
sheds what the app cannot queue with 429 and a JSON body, the server stays healthy and its
memory bounded, and subscribers receive exactly the events whose trigger got 200."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pusher.errors
import pytest

from tests.support.client import PusherClient, sdk
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(120)

OVERLOADED = {"error": "App is overloaded: too many events queued, retry later"}
SENDERS = 16
WANTED = 20  # of each answer: enough to show both happen under the same flood
MAX_SECONDS = 60


def usage(server: ServerProcess) -> dict:
    with urllib.request.urlopen(server.http_url + "/usage", timeout=5) as response:
        return json.loads(response.read())


def flood(server: ServerProcess) -> tuple[list[str], list[str]]:
    """Trigger numbered events from SENDERS threads until WANTED of them were accepted and
    WANTED refused; returns (accepted, refused) event data."""
    accepted: list[str] = []
    refused: list[str] = []
    numbers = itertools.count()
    lock = threading.Lock()
    deadline = time.monotonic() + MAX_SECONDS

    def enough() -> bool:
        with lock:
            return len(accepted) >= WANTED and len(refused) >= WANTED

    def send() -> None:
        client = sdk(server)
        while not enough() and time.monotonic() < deadline:
            with lock:
                data = f"tick-{next(numbers)}"
            try:
                answer = client.trigger("flood", "tick", data)
            except pusher.errors.PusherBadStatus as error:
                status, _, body = str(error).partition(": ")
                assert (status, json.loads(body)) == ("429", OVERLOADED)
                with lock:
                    refused.append(data)
            else:
                assert answer == {}
                with lock:
                    accepted.append(data)

    with ThreadPoolExecutor(SENDERS) as pool:
        for future in [pool.submit(send) for _ in range(SENDERS)]:
            future.result()
    assert enough(), f"{len(accepted)} accepted, {len(refused)} refused in {MAX_SECONDS}s"
    return accepted, refused


def test_a_publish_flood_is_shed_with_429_and_every_accepted_event_is_delivered(
    start_server: Callable,
) -> None:
    server = start_server("--publish-queue-limit", "2")
    subscriber = PusherClient.connect(server)
    subscriber.subscribe("flood")
    subscriber.recv_event("pusher_internal:subscription_succeeded")
    memory_before = usage(server)["memory"]["rss_bytes"]

    accepted, refused = flood(server)

    received = [subscriber.recv()["data"] for _ in accepted]
    assert sorted(received) == sorted(accepted)
    subscriber.assert_silent()  # nothing refused was delivered
    assert not set(received) & set(refused)
    # Healthy: answering, still delivering, and no backlog left in memory.
    assert sdk(server).trigger("flood", "tick", "after") == {}
    assert subscriber.recv()["data"] == "after"
    assert usage(server)["memory"]["rss_bytes"] - memory_before < 32 * 1024 * 1024
    subscriber.close()
