"""A test actor that records what it handles and which hooks ran, plus its control messages."""

from __future__ import annotations

from dataclasses import dataclass, field

import gevent
from gevent.event import Event

from actors import Actor, Supervisor


@dataclass(frozen=True, slots=True)
class Fail:
    """receive() raises `error`."""

    error: Exception


@dataclass(frozen=True, slots=True)
class Block:
    """receive() sets `started`, then holds the actor's greenlet until `release` is set."""

    started: Event = field(default_factory=Event)
    release: Event = field(default_factory=Event)


@dataclass(frozen=True, slots=True)
class Ping:
    """receive() records `label` and sets `done`, so a test can await delivery."""

    label: str
    done: Event = field(default_factory=Event)


class AskSelf:
    """receive() asks its own actor."""


class StopSelf:
    """receive() stops its own actor (without draining)."""


class Recorder(Actor):
    def __init__(
        self,
        *,
        mailbox_size: int | None = None,
        name: str = "rec",
        supervisor: Supervisor | None = None,
    ) -> None:
        super().__init__(mailbox_size=mailbox_size, name=name, supervisor=supervisor)
        self.seen: list[object] = []  # messages handled, in order
        self.events: list[object] = []  # hooks run, in order
        self.greenlets: list[object] = []  # the greenlet each message was handled in
        self.dropped: list[object] = []  # tells a stop dropped unhandled
        self.failure_at_stop: BaseException | None = None

    def on_start(self) -> None:
        self.events.append("start")
        self.greenlets.append(gevent.getcurrent())

    def on_stop(self) -> None:
        self.events.append("stop")
        self.failure_at_stop = self.failure

    def on_dropped(self, message: object) -> None:
        self.dropped.append(message)

    def on_restart(self, error: BaseException) -> None:
        self.events.append(("restart", error))

    def state_summary(self) -> str:
        return f"seen={len(self.seen)}"

    def receive(self, message: object) -> object:
        self.greenlets.append(gevent.getcurrent())
        if isinstance(message, Fail):
            raise message.error
        if isinstance(message, Block):
            message.started.set()
            message.release.wait()
            return None
        if isinstance(message, AskSelf):
            return self.ask("never answered", timeout=1)
        if isinstance(message, StopSelf):
            self.stop()
            return None
        if isinstance(message, Ping):
            self.seen.append(message.label)
            message.done.set()
            return None
        self.seen.append(message)
        return message


def blocked(actor: Actor) -> Block:
    """Occupy `actor`'s greenlet so later messages stay queued; set `.release` to free it."""
    block = Block()
    actor.tell(block)
    assert block.started.wait(1)
    return block
