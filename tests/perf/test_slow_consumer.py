"""A subscriber that stops reading is cut off at --socket-backlog-limit-kb; the others keep
receiving every event and the server's memory stays bounded.

The server is a real process (its RSS is what is bounded); the subscribers and the publisher
run here on gevent, the publisher in the hub's threadpool so readers keep reading meanwhile.
"""

from __future__ import annotations

from pathlib import Path

import gevent
import pusher

from loadtests.rawws import RawPusher
from tests.perf.inprocess import connect_client, in_thread
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess

BACKLOG_LIMIT_KB = 256
CHANNEL = "perf-stream"
EVENT_DATA_BYTES = 9000  # under the 10 KB default payload limit
BATCHES = 120  # x 10 events x 9 KB = 10.8 MB offered to each subscriber
BATCH_SIZE = 10
TOTAL = BATCHES * BATCH_SIZE
MARKER = b'"event":"tick"'
RSS_GROWTH_LIMIT = 6 * 2**20  # well under the 10.8 MB the slow consumer was offered


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def sequence_numbers(texts: list[bytes]) -> list[int]:
    """Each event's data starts with its zero-padded sequence number."""
    numbers = []
    for text in texts:
        if MARKER in text:
            start = text.index(b'"data":"') + len(b'"data":"')
            numbers.append(int(text[start : start + 6]))
    return numbers


def publish_stream(port: int) -> None:
    sdk = pusher.Pusher(APP_ID, APP_KEY, APP_SECRET, host="127.0.0.1", port=port, ssl=False)
    padding = "x" * (EVENT_DATA_BYTES - 6)
    for batch in range(BATCHES):
        sdk.trigger_batch(
            [
                {"channel": CHANNEL, "name": "tick", "data": f"{seq:06d}{padding}"}
                for seq in range(batch * BATCH_SIZE, (batch + 1) * BATCH_SIZE)
            ]
        )


def read_all(subscriber: RawPusher) -> list[int]:
    """Read until the last event arrives, keeping only sequence numbers (not 10 MB of text)."""
    numbers: list[int] = []
    last = f'"data":"{TOTAL - 1:06d}'.encode()
    while True:
        texts = subscriber.texts()
        numbers += sequence_numbers(texts)
        if any(last in text for text in texts):
            return numbers


def test_slow_consumer_is_disconnected_and_the_others_get_everything() -> None:
    flags = ["--socket-backlog-limit-kb", str(BACKLOG_LIMIT_KB)]
    with ServerProcess(args=flags, env={"LOG_LEVEL": "info"}) as server:
        fast = [connect_client(server.port) for _ in range(2)]
        slow = connect_client(server.port, rcvbuf=4096)
        for subscriber in (*fast, slow):
            subscriber.subscribe(CHANNEL)
        rss_before = rss_bytes(server.process.pid)

        readers = [gevent.spawn(read_all, subscriber) for subscriber in fast]
        in_thread(publish_stream, server.port)
        received = [reader.get(timeout=60) for reader in readers]
        rss_after = rss_bytes(server.process.pid)

        slow_numbers = sequence_numbers(slow.read_to_eof())  # cut off: EOF, not a timeout
        log = server.log()

    assert received == [list(range(TOTAL))] * 2
    assert len(slow_numbers) < TOTAL
    assert slow_numbers == list(range(len(slow_numbers)))  # in order up to the cut
    assert "closing slow consumer" in log
    assert log.count("slow consumer:") == 1
    assert rss_after - rss_before < RSS_GROWTH_LIMIT, (rss_before, rss_after)
