"""Faults injected while a two-node soak runs, one after another, each with the times it began
and ended, so delivery losses can be matched to them:

1. Redis restarts (down for a few seconds, back empty);
2. one node is SIGKILLed, then started again (a new node id on the same port);
3. the webhook receiver is paused (SIGSTOP), then resumed.

A ghost probe checks the promise about the killed node: a presence channel with members held
on both nodes must show, on the surviving node and within the node timeout (x 1.25, plus a
margin for a loaded machine), only the members that still have a socket.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import gevent
import orjson
from gevent.event import Event

from loadtests.rawws import Closed
from loadtests.soak_clients import Client, Kind
from loadtests.soak_delivery import sdk
from loadtests.soak_processes import Node, Receiver, Redis
from loadtests.soak_workload import APP

GHOST_CHANNEL = "ghosts"
GHOSTS_PER_NODE = 3
GHOST_MARGIN_SECONDS = 5.0


@dataclass
class Schedule:
    """When each fault starts, in seconds from the start of the load, and how long it lasts."""

    redis_at: float
    redis_down: float
    kill_at: float
    node_down: float
    pause_at: float
    pause_for: float
    node_timeout: float


@dataclass
class FaultLog:
    """Wall-clock times of each fault, and the ghost probe's findings."""

    times: dict[str, float] = field(default_factory=dict)
    ghosts_seen_by_api: list[str] | None = None
    ghosts_seen_by_member: list[str] | None = None
    ghosts_expected: list[str] = field(default_factory=list)
    ghost_gone_after: float | None = None  # seconds from the kill until the API agreed
    errors: list[str] = field(default_factory=list)


class GhostProbe:
    """Presence members that stay put on each node; the first member on the surviving node
    keeps the member list its events add up to."""

    def __init__(self, nodes: Sequence[Node]) -> None:
        self.clients: dict[str, list[Client]] = {}
        self.roster: set[str] = set()
        self._readers: list[gevent.Greenlet] = []
        for node in nodes:
            members = []
            for number in range(GHOSTS_PER_NODE):
                client = Client(node.port, APP)
                confirmed = client.join(Kind.PRESENCE, GHOST_CHANNEL, f"ghost-{node.name}-{number}")
                members.append(client)
                follow = lambda text: None  # noqa: E731 (the others only keep alive)
                if node is nodes[0] and number == 0:
                    self.roster = set(orjson.loads(confirmed["data"])["presence"]["ids"])
                    follow = self._member_event
                self._readers.append(gevent.spawn(_quietly, client, follow))
            self.clients[node.name] = members

    def _member_event(self, text: bytes) -> None:
        frame = orjson.loads(text)
        if frame.get("channel") != Kind.PRESENCE.channel(GHOST_CHANNEL):
            return
        user_id = orjson.loads(frame["data"]).get("user_id")
        if frame["event"] == "pusher_internal:member_added":
            self.roster.add(user_id)
        elif frame["event"] == "pusher_internal:member_removed":
            self.roster.discard(user_id)

    def close(self) -> None:
        gevent.killall(self._readers)
        for members in self.clients.values():
            for client in members:
                client.close()


def _quietly(client: Client, on_text) -> None:
    with contextlib.suppress(OSError, Closed):
        client.follow(on_text)


def run(
    schedule: Schedule,
    nodes: Sequence[Node],
    redis: Redis,
    receiver: Receiver,
    probe: GhostProbe,
    stop: Event,
    log: FaultLog,
) -> None:
    """Inject the faults at their times (from now); returns early if `stop` is set."""
    begun = time.monotonic()

    def until(at: float) -> bool:
        return not stop.wait(max(0.0, begun + at - time.monotonic()))

    survivor, victim = nodes[0], nodes[1]
    if until(schedule.redis_at):
        log.times["redis_down"] = time.time()
        redis.stop()
        gevent.sleep(schedule.redis_down)
        redis.start()
        log.times["redis_up"] = time.time()
    if until(schedule.kill_at):
        log.times["node_killed"] = time.time()
        victim.kill()
        _watch_ghosts(schedule, survivor, victim, probe, log)
        gevent.sleep(max(0.0, log.times["node_killed"] + schedule.node_down - time.time()))
        try:
            victim.start()
        except RuntimeError as error:
            log.errors.append(f"{victim.name} did not start again: {error}")
        log.times["node_restarted"] = time.time()
    if until(schedule.pause_at):
        log.times["receiver_paused"] = time.time()
        receiver.pause()
        gevent.sleep(schedule.pause_for)
        receiver.resume()
        log.times["receiver_resumed"] = time.time()


def _watch_ghosts(
    schedule: Schedule, survivor: Node, victim: Node, probe: GhostProbe, log: FaultLog
) -> None:
    """Until the bound (node timeout x 1.25 + margin), ask the survivor who is in the ghost
    channel; record when it first shows only the members that still have a socket."""
    killed = log.times["node_killed"]
    deadline = killed + schedule.node_timeout * 1.25 + GHOST_MARGIN_SECONDS
    expected = sorted(f"ghost-{survivor.name}-{n}" for n in range(GHOSTS_PER_NODE))
    log.ghosts_expected = expected
    channel = Kind.PRESENCE.channel(GHOST_CHANNEL)
    api = sdk(survivor)
    while True:
        try:
            users = sorted(u["id"] for u in api.users_info(channel)["users"])
        except Exception as error:  # the survivor must answer; record why it did not
            log.errors.append(f"users query failed: {error}")
            users = None
        log.ghosts_seen_by_api = users
        log.ghosts_seen_by_member = sorted(probe.roster)
        if users == expected and log.ghosts_seen_by_member == expected:
            log.ghost_gone_after = round(time.time() - killed, 2)
            return
        if time.time() > deadline:
            return
        gevent.sleep(0.25)
