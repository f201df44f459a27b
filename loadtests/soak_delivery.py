"""Counting delivery: publishers that record every event the HTTP API acknowledged, listeners
that record every event they received, and the reckoning of the two.

A listener's *session* is one connection with its subscriptions confirmed. An event is owed
to a session when it was sent after the session's subscriptions were confirmed and
acknowledged before the session ended (or before publishing stopped, for a session that
lasted). Sessions that a fault ended are reported apart: what a node that was killed had
acknowledged but not yet written cannot be owed to anyone.
"""

from __future__ import annotations

import itertools
import random
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gevent
import orjson
import pusher
import requests
from gevent.event import Event
from gevent.pool import Pool
from pusher.requests import RequestsBackend

from loadtests.rawws import Closed, RawPusher
from loadtests.seq_ranges import Received
from loadtests.soak_processes import APP_ID, APP_KEY, APP_SECRET, HOST, Node

STREAM_EVENT = "soak-tick"
_MARKER = f'"event":"{STREAM_EVENT}"'.encode()
_PING = b'"event":"pusher:ping"'
PUBLISH_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Published:
    channel: str
    seq: int
    node: str
    sent: float  # wall clock, before the request
    acked: float  # when the 200 arrived


def _floats() -> array[float]:
    return array("d")


@dataclass
class Session:
    listener: str
    node: str
    channels: tuple[str, ...]
    started: float  # every subscription confirmed
    ended: float | None = None
    why_ended: str | None = None
    received: Received = field(default_factory=Received)
    duplicates: int = 0
    latencies_ms: array[float] = field(default_factory=_floats)  # 8 bytes each, not 32


@dataclass
class Ledger:
    published: list[Published] = field(default_factory=list)
    publish_failures: int = 0
    sessions: list[Session] = field(default_factory=list)
    publishing_stopped: float | None = None


class _TrackedBackend(RequestsBackend):
    """The SDK's own HTTP backend, remembered so that its keep-alive connections can be
    closed: left open they would count as the server's descriptors and greenlets."""

    def __init__(self, client, **options) -> None:
        super().__init__(client, **options)
        _sessions.append(self.session)


_sessions: list[requests.Session] = []


def sdk(node: Node) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=APP_ID, key=APP_KEY, secret=APP_SECRET, host=HOST, port=node.port,
        ssl=False, timeout=PUBLISH_TIMEOUT, backend=_TrackedBackend,
    )  # fmt: skip


def close_http_connections() -> None:
    """Close the keep-alive connections of every SDK client made here."""
    while _sessions:
        _sessions.pop().close()


class Publisher:
    """Publishes `rate` events a second round-robin over the nodes and stream channels (open
    loop: a slow answer never slows the rate); every `batch_every`-th publish is a batch of
    `batch_size` events instead. Each event carries its channel's sequence number."""

    def __init__(
        self,
        nodes: Sequence[Node],
        channels: Sequence[str],
        ledger: Ledger,
        rate: float,
        batch_every: int = 5,
        batch_size: int = 4,
    ) -> None:
        self._nodes = list(nodes)
        self._clients = {node.name: sdk(node) for node in nodes}
        self._channels = list(channels)
        self._ledger = ledger
        self._rate = rate
        self._batch_every = batch_every
        self._batch_size = batch_size
        self._seqs = {channel: itertools.count() for channel in channels}
        self._pool = Pool(64)

    def run(self, stop: Event) -> None:
        started = time.monotonic()
        for tick in itertools.count():
            due = started + tick / self._rate
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            node = self._nodes[tick % len(self._nodes)]
            size = self._batch_size if self._batch_every and tick % self._batch_every == 0 else 1
            events = [self._next_event() for _ in range(size)]
            self._pool.spawn(self._publish, node, events)
        self._pool.join(timeout=PUBLISH_TIMEOUT + 1)
        self._ledger.publishing_stopped = time.time()

    def _next_event(self) -> tuple[str, int]:
        channel = random.choice(self._channels)
        return channel, next(self._seqs[channel])

    def _publish(self, node: Node, events: list[tuple[str, int]]) -> None:
        client = self._clients[node.name]
        sent = time.time()
        try:
            if len(events) == 1:
                channel, seq = events[0]
                client.trigger(channel, STREAM_EVENT, {"s": seq, "t": sent})
            else:
                client.trigger_batch(
                    [
                        {"channel": c, "name": STREAM_EVENT, "data": {"s": s, "t": sent}}
                        for c, s in events
                    ]
                )
        except Exception:  # refused, timed out or a dead node: not acknowledged, not owed
            self._ledger.publish_failures += len(events)
            return
        acked = time.time()
        for channel, seq in events:
            self._ledger.published.append(Published(channel, seq, node.name, sent, acked))


class Listener:
    """A long-lived subscriber to some stream channels on one node; it answers the server's
    pings and, when its connection ends, reconnects as a new session until stopped."""

    def __init__(self, name: str, node: Node, channels: Sequence[str], ledger: Ledger) -> None:
        self.name = name
        self.node = node
        self.channels = tuple(channels)
        self._ledger = ledger
        self._sock: RawPusher | None = None
        self._stopping = False
        self.connect_failures = 0

    def run(self) -> None:
        while not self._stopping:
            try:
                self._session()
            except (OSError, Closed, TimeoutError):
                self.connect_failures += 1
            if not self._stopping:
                gevent.sleep(0.5 + random.random())

    def stop(self) -> None:
        self._stopping = True
        if self._sock is not None:
            self._sock.close()

    def _session(self) -> None:
        sock = RawPusher(HOST, self.node.port, APP_KEY, timeout=10)
        self._sock = sock
        for channel in self.channels:
            sock.subscribe(channel)
        session = Session(self.name, self.node.name, self.channels, time.time())
        self._ledger.sessions.append(session)
        try:
            self._read(sock, session)
        except (OSError, Closed) as error:
            session.ended = time.time()
            session.why_ended = "stopped" if self._stopping else f"{type(error).__name__}"

    def _read(self, sock: RawPusher, session: Session) -> None:
        sock.sock.settimeout(None)
        while True:
            texts = sock.texts()
            now = time.time()
            for text in texts:
                if _MARKER in text:
                    frame = orjson.loads(text)
                    data = orjson.loads(frame["data"])
                    key = (frame["channel"], data["s"])
                    if key in session.received:
                        session.duplicates += 1
                    session.received.add(key)
                    session.latencies_ms.append((now - data["t"]) * 1000)
                elif _PING in text:
                    sock.send("pusher:pong", {})


@dataclass(frozen=True, slots=True)
class Loss:
    listener: str
    node: str
    published: Published


@dataclass
class Reckoning:
    owed: int = 0  # event deliveries owed to sessions that lasted
    lost: list[Loss] = field(default_factory=list)
    interrupted_owed: int = 0  # owed to sessions a fault ended
    interrupted_lost: list[Loss] = field(default_factory=list)
    duplicates: int = 0
    latencies_ms: array[float] = field(default_factory=_floats)  # 8 bytes each, not 32


def reckon(ledger: Ledger, lasted: Callable[[Session], bool]) -> Reckoning:
    """Match what was owed against what was received; `lasted(session)` says whether the
    session counts as one that lasted (ended by the soak's own stop, or still open)."""
    by_channel: dict[str, list[Published]] = {}
    for event in ledger.published:
        by_channel.setdefault(event.channel, []).append(event)
    end_of_publishing = ledger.publishing_stopped or time.time()
    result = Reckoning()
    for session in ledger.sessions:
        whole = lasted(session)
        until = end_of_publishing if whole else (session.ended or end_of_publishing)
        for channel in session.channels:
            for event in by_channel.get(channel, ()):
                if event.sent < session.started or event.acked > until:
                    continue
                missing = (channel, event.seq) not in session.received
                if whole:
                    result.owed += 1
                    if missing:
                        result.lost.append(Loss(session.listener, session.node, event))
                else:
                    result.interrupted_owed += 1
                    if missing:
                        result.interrupted_lost.append(Loss(session.listener, session.node, event))
        result.duplicates += session.duplicates
        result.latencies_ms += session.latencies_ms
    return result


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)
