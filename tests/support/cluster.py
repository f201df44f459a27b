"""Helpers of the multi-node tests: presence joins, settling pub/sub, polling other nodes,
and recording stand-ins for a cluster actor's channel and host."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from socketrush.cluster.messages import AppSnapshot
from tests.support.client import PusherClient, sdk, subscribe_signed
from tests.support.polling import wait_until
from tests.support.server import ServerProcess
from tests.support.webhook_receiver import Receiver

ROOM = "presence-room"


def join(server: ServerProcess, user_id: str, channel: str = ROOM) -> tuple[PusherClient, dict]:
    """Connect to `server`, join `channel` as `user_id`; returns the client and its presence."""
    client = PusherClient.connect(server)
    subscribe_signed(server, client, channel, {"user_id": user_id, "user_info": {"n": user_id}})
    succeeded = client.recv_event("pusher_internal:subscription_succeeded")
    return client, succeeded["data"]["presence"]


def settle(origin: ServerProcess, others: list[ServerProcess]) -> None:
    """Wait until what `origin` published so far reached `others`.

    A member_added travels over pub/sub while the next join reads the store directly; a late
    one would repeat a member the joiner already got in its list. Pub/sub keeps one
    publisher's order, so an event triggered through `origin` now arrives after everything
    before it.
    """
    probes = []
    for node in others:
        probe = PusherClient.connect(node)
        probe.subscribe("probe")
        probe.recv_event("pusher_internal:subscription_succeeded")
        probes.append(probe)
    sdk(origin).trigger("probe", "flush", "")
    for probe in probes:
        probe.recv_event("flush")
        probe.close()


def eventually(check: Callable[[], Any], expected: Any, timeout: float = 10.0) -> None:
    """Other nodes learn of a change through the bus, asynchronously: poll until they agree."""
    got: list[Any] = []

    def agrees() -> bool:
        got[:] = [check()]
        return got[0] == expected

    wait_until(agrees, timeout, lambda: f"still {got[0]!r}, expected {expected!r}")


def webhooks_to(receiver: Receiver) -> tuple[str, ...]:
    """Node flags that send the app's webhooks to `receiver`."""
    return ("--app-webhooks-enabled", "true", "--app-webhook-url", receiver.url)


# -- stand-ins for the cluster actor's surroundings --


@dataclass
class Log:
    """One ordered record of what the channel was told and what the node announced."""

    entries: list[tuple] = field(default_factory=list)


@dataclass
class Channel:
    log: Log

    def tell(self, message: object) -> bool:
        self.log.entries.append(("channel", message))
        return True

    def ask(self, message: object, timeout: float = 5.0) -> object:
        raise AssertionError("the cluster never asks a channel")


@dataclass
class Host:
    log: Log
    snapshots: list[AppSnapshot] = field(default_factory=list)

    def publish(self, *args: object, **kwargs: object) -> None:
        self.log.entries.append(("publish", *args))

    def announce_count(self, app_id: str, channel: str, total: int, version: int) -> None:
        self.log.entries.append(("count", app_id, channel, total, version))

    def notify(self, app_id: str, event: object) -> None:
        self.log.entries.append(("notify", app_id, event))

    def remote_connections(self, app_id: str, count: int) -> None:
        raise AssertionError("not beating here")

    def snapshot(self) -> list[AppSnapshot]:
        return self.snapshots
