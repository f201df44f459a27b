"""The soak's restless clients: churners that connect, join channels of every kind, sign in,
send client events and leave in every way, over and over; and client-event pairs whose every
event is counted at the other end (and must come back as a client_event webhook).

Names come from small pools, so channels are emptied and filled again all the time (each time
an occupied and a vacated webhook), and presence users come and go on several sockets.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gevent
import orjson
from gevent.event import Event

from loadtests.rawws import Closed
from loadtests.soak_clients import App, Client, Kind, Leave
from loadtests.soak_processes import APP_ID, APP_KEY, APP_SECRET, Node

APP = App(APP_ID, APP_KEY, APP_SECRET)
CHANNELS_PER_KIND = 8
PRESENCE_USERS = 90  # below the default 100 members per channel, whatever the churn
PAIR_EVENT = "client-soak-pair"
KINDS = tuple(Kind)
LEAVES = tuple(Leave)


@dataclass
class ChurnStats:
    cycles: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def failed(self, error: BaseException) -> None:
        kind = type(error).__name__
        self.errors[kind] = self.errors.get(kind, 0) + 1


def churn(
    pick_node: Callable[[], Node | None], stop: Event, stats: ChurnStats, hold_max: float
) -> None:
    """One churner: cycles until `stop`, each on a node `pick_node` chooses (None: all are
    down, wait)."""
    while not stop.is_set():
        node = pick_node()
        if node is None:
            stop.wait(0.5)
            continue
        try:
            _cycle(node, stop, hold_max)
            stats.cycles += 1
        except (OSError, Closed, TimeoutError) as error:
            stats.failed(error)
            stop.wait(0.2)


def _cycle(node: Node, stop: Event, hold_max: float) -> None:
    client = Client(node.port, APP)
    try:
        if random.random() < 0.3:
            user = f"user-{random.randrange(PRESENCE_USERS)}"
            watched = [f"user-{random.randrange(PRESENCE_USERS)}" for _ in range(2)]
            client.sign_in(user, watchlist=watched)
        for _ in range(random.randint(1, 3)):
            kind = random.choice(KINDS)
            name = f"soak-{random.randrange(CHANNELS_PER_KIND)}"
            user_id = f"user-{random.randrange(PRESENCE_USERS)}" if kind.is_presence else None
            client.join(kind, name, user_id)
        talking = [c for c in client.channels if _allows_client_events(c)]
        if talking and random.random() < 0.5:
            client.send_event(random.choice(talking), "client-churn", {"at": time.time()})
        stop.wait(random.random() * hold_max)
    except BaseException:
        client.leave(Leave.DROP)
        raise
    client.leave(random.choice(LEAVES))


def _allows_client_events(channel: str) -> bool:
    return channel.startswith(("private-", "presence-")) and not channel.startswith(
        "private-encrypted-"
    )


@dataclass
class PairStats:
    sent: dict[str, list[int]] = field(default_factory=dict)  # sender socket id -> seqs sent
    received: dict[str, set[int]] = field(default_factory=dict)  # sender socket id -> seqs seen
    interrupted: set[str] = field(default_factory=set)  # senders whose pair a fault broke


def pair(
    number: int, sender_node: Node, receiver_node: Node, stop: Event, stats: PairStats,
    interval: float,
) -> None:  # fmt: skip
    """A sender and a receiver on one private channel (on two nodes when there are two): the
    sender sends a numbered client event every `interval` s; the receiver records each."""
    channel = f"soak-pair-{number}"
    receiver = Client(receiver_node.port, APP)
    receiver.join(Kind.PRIVATE, channel)
    sender = Client(sender_node.port, APP)
    sender.join(Kind.PRIVATE, channel)
    sender_id = sender.socket_id
    sent = stats.sent.setdefault(sender_id, [])
    seen = stats.received.setdefault(sender_id, set())
    reading = gevent.spawn(_receive_pairs, receiver, seen)
    try:
        for seq in itertools.count():
            if stop.wait(interval):
                break
            sender.send_event(f"private-{channel}", PAIR_EVENT, {"s": seq})
            sent.append(seq)
    except OSError:
        stats.interrupted.add(sender_id)
    finally:
        gevent.sleep(1.0)  # the last events are on their way
        if reading.dead:
            stats.interrupted.add(sender_id)
        reading.kill()
        sender.close()
        receiver.close()


def _receive_pairs(receiver: Client, seen: set[int]) -> None:
    marker = f'"event":"{PAIR_EVENT}"'.encode()

    def record(text: bytes) -> None:
        if marker in text:
            data = orjson.loads(text)["data"]  # relayed as the sender sent it: an object
            seen.add((orjson.loads(data) if isinstance(data, str) else data)["s"])

    with contextlib.suppress(OSError, Closed):
        receiver.follow(record)


def pick_alive(nodes: Sequence[Node]) -> Callable[[], Node | None]:
    def pick() -> Node | None:
        alive = [node for node in nodes if node.alive]
        return random.choice(alive) if alive else None

    return pick
