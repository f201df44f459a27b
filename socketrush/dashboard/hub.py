"""DashboardHub: the one actor that owns the dashboard's state on a node.

It keeps the pages listening to each app's debug console on this node (their sockets,
subscribed to `DEBUG_CHANNEL`), sends them the records `DebugFeed` hands in, and shares
records, listening and figures with the other nodes as typed commands over the adapter
(`ConsoleWatched`, `ConsoleRecord`, `NodeFigures` in adapters/messages.py). Routing by
interest, like channels: an app's records travel on its console topic, which only nodes with a
page on that console watch; who watches and the figures travel on the dashboard topic, which
every node with the dashboard enabled watches (it builds records for remote pages and sums
the figures into its charts). Every `SAMPLE_SECONDS` it samples each app's figures into the
ring the charts draw.

`active` is the set of app ids someone listens to, here or on another node. It is replaced,
never mutated, so the feed's hooks read it from any greenlet without a lock: the one check
they make before building a record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import orjson

from actors import Actor
from socketrush.adapters.messages import Command, ConsoleRecord, ConsoleWatched, NodeFigures
from socketrush.adapters.topics import DASHBOARD, Topic, console_topic
from socketrush.channels import Subscriber
from socketrush.dashboard.stats import (
    SAMPLE_SECONDS,
    RateMeter,
    Sample,
    SampleRing,
    message_totals,
)
from socketrush.protocol import frames
from socketrush.protocol.websocket import text_frame
from socketrush.supervision import counted_supervisor

if TYPE_CHECKING:
    from socketrush.app import AppActor

log = logging.getLogger(__name__)

# pusher-js asks the page's authorizer for any `private-` channel; `#` is outside Pusher's
# channel alphabet, so no app client can subscribe to this name nor the HTTP API publish on it.
DEBUG_CHANNEL = "private-#socketrush-dashboard"
LOG_EVENT = "log"
# Records and peers' messages are dropped while this many messages wait (`has_room`); a
# listener's coming and going never is, so a page's socket is never forgotten.
BACKLOG_LIMIT = 10_000
RECORDS_PER_SECOND = 200  # per app and node: a page must never be flooded off its socket
REMOTE_FIGURES_SECONDS = 2.5 * SAMPLE_SECONDS  # a node silent longer no longer counts
LISTEN_TTL_SECONDS = 3 * SAMPLE_SECONDS  # one lost `ConsoleWatched` does not stop the records


class Peers(Protocol):
    """The other nodes, as the hub reaches them (the node's adapter)."""

    def send(self, command: Command) -> None: ...

    def watch(self, topic: Topic, on_ready: Callable[[], None]) -> bool: ...

    def unwatch(self, topic: Topic) -> None: ...


def _no_wait() -> None:
    """A page's records flow once its console topic is active; the hub does not wait."""


@dataclass(frozen=True, slots=True)
class Record:
    app_id: str
    record: dict


@dataclass(frozen=True, slots=True)
class AddListener:
    app_id: str
    subscriber: Subscriber


@dataclass(frozen=True, slots=True)
class RemoveListener:
    app_id: str
    socket_id: str


@dataclass(frozen=True, slots=True)
class Figures:
    """Ask: app id -> {"connections", "messages_per_second"}, cluster-wide."""


@dataclass(frozen=True, slots=True)
class Samples:
    """Ask: the chart columns of one app."""

    app_id: str


@dataclass(frozen=True, slots=True)
class _Tick:
    pass


def log_frame(record: dict) -> bytes:
    """A record as the Pusher event the page's pusher-js receives."""
    return frames.event_frame(LOG_EVENT, DEBUG_CHANNEL, orjson.dumps(record).decode())


class RecordBudget:
    """At most `limit` records per app per second; the rest are counted and reported."""

    def __init__(self, limit: int = RECORDS_PER_SECOND) -> None:
        self._limit = limit
        self._windows: dict[str, tuple[int, int, int]] = {}  # app -> (second, taken, dropped)

    def take(self, app_id: str, now: float) -> tuple[bool, int]:
        """(whether this record may go, how many were dropped in windows now closed)."""
        second = int(now)
        window, taken, dropped = self._windows.get(app_id, (second, 0, 0))
        reported = 0
        if window != second:
            reported, taken, dropped = dropped, 0, 0
        allowed = taken < self._limit
        self._windows[app_id] = (second, taken + allowed, dropped + (not allowed))
        return allowed, reported

    def closed_drops(self, now: float) -> dict[str, int]:
        """Drops of windows that closed with no record after them; reported once."""
        second = int(now)
        drops = {}
        for app_id, (window, _, dropped) in list(self._windows.items()):
            if window != second:
                del self._windows[app_id]
                if dropped:
                    drops[app_id] = dropped
        return drops


class DashboardHub(Actor):
    """State: local listeners per app, remote listening and figures, the sample rings."""

    def __init__(
        self,
        apps: Callable[[], list[AppActor]],
        peers: Peers | None = None,
        node_id: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`apps`: this node's app actors; `peers`: the other nodes (None: it has none)."""
        super().__init__(name="dashboard", supervisor=counted_supervisor())
        self.active: frozenset[str] = frozenset()
        self._apps = apps
        self._peers = peers
        self._node_id = node_id
        self._clock = clock
        self._listeners: dict[str, dict[str, Subscriber]] = {}
        self._remote_listening: dict[str, float] = {}  # app id -> until (clock)
        self._remote_figures: dict[str, tuple[float, dict[str, tuple[int, float]]]] = {}
        self._rings: dict[str, SampleRing] = {}
        self._meter = RateMeter()
        self._budget = RecordBudget()

    @property
    def has_room(self) -> bool:
        return self.mailbox_depth < BACKLOG_LIMIT

    def state_summary(self) -> str:
        listeners = sum(len(sockets) for sockets in self._listeners.values())
        return f"dashboard listeners={listeners} active={sorted(self.active)}"

    def on_start(self) -> None:
        if self._peers is not None:
            self._peers.watch(DASHBOARD, _no_wait)
        self._tick(_Tick())

    def receive(self, message: object) -> object:
        if isinstance(message, Record):
            self._record(message.app_id, message.record)
        elif isinstance(message, AddListener):
            self._add_listener(message)
        elif isinstance(message, RemoveListener):
            self._remove_listener(message)
        elif isinstance(message, ConsoleRecord):
            self._to_listeners(message.app_id, message.frame)
        elif isinstance(message, ConsoleWatched):
            self._remote_listening[message.app_id] = self._clock() + LISTEN_TTL_SECONDS
            self._update_active()
        elif isinstance(message, NodeFigures):
            if message.node_id != self._node_id:
                self._remote_figures[message.node_id] = (self._clock(), message.apps)
        elif isinstance(message, Figures):
            return self._figures()
        elif isinstance(message, Samples):
            ring = self._rings.get(message.app_id)
            return ring.columns() if ring is not None else SampleRing().columns()
        elif isinstance(message, _Tick):
            self._tick(message)
        else:
            raise TypeError(f"unexpected message {type(message).__name__}")
        return None

    # -- listeners --

    def _add_listener(self, message: AddListener) -> None:
        subscriber, app_id = message.subscriber, message.app_id
        first = app_id not in self._listeners
        sockets = self._listeners.setdefault(app_id, {})
        sockets[subscriber.socket_id] = subscriber
        subscriber.send_frame(text_frame(frames.subscription_succeeded(DEBUG_CHANNEL)))
        self._update_active()
        if self._peers is not None:
            if first:
                self._peers.watch(console_topic(app_id), _no_wait)
            self._peers.send(ConsoleWatched(app_id))

    def _remove_listener(self, message: RemoveListener) -> None:
        sockets = self._listeners.get(message.app_id)
        if sockets is None or sockets.pop(message.socket_id, None) is None:
            return
        if not sockets:
            del self._listeners[message.app_id]
            if self._peers is not None:
                self._peers.unwatch(console_topic(message.app_id))
        self._update_active()

    def _update_active(self) -> None:
        now = self._clock()
        for app_id in [a for a, until in self._remote_listening.items() if until <= now]:
            del self._remote_listening[app_id]
        active = frozenset(self._listeners) | frozenset(self._remote_listening)
        if active != self.active:
            self.active = active

    # -- records --

    def _record(self, app_id: str, record: dict) -> None:
        allowed, dropped = self._budget.take(app_id, self._clock())
        if dropped:
            self._publish(app_id, {"type": "dropped", "count": dropped, "time": record["time"]})
        if allowed:
            self._publish(app_id, record)

    def _publish(self, app_id: str, record: dict) -> None:
        frame = log_frame(record)
        self._to_listeners(app_id, frame)
        if self._peers is not None and app_id in self._remote_listening:
            self._peers.send(ConsoleRecord(app_id, frame))

    def _to_listeners(self, app_id: str, frame: bytes) -> None:
        sockets = self._listeners.get(app_id)
        if sockets:
            wire = text_frame(frame)
            for subscriber in sockets.values():
                subscriber.send_frame(wire)

    # -- figures --

    def _tick(self, _message: _Tick) -> None:
        self.tell_later(SAMPLE_SECONDS, _Tick())  # first: a failing tick must not stop them
        now = self._clock()
        for app_id, count in self._budget.closed_drops(now).items():
            self._publish(app_id, {"type": "dropped", "count": count, "time": int(now * 1000)})
        local = self._local_figures(now)
        if self._peers is not None:
            self._peers.send(NodeFigures(self._node_id, local))
            for app_id in self._listeners:
                self._peers.send(ConsoleWatched(app_id))
        for app_id, (connections, rate) in self._cluster_figures(local, now).items():
            self._rings.setdefault(app_id, SampleRing()).add(Sample(now, connections, rate))
        self._update_active()

    def _local_connections(self, app: AppActor) -> int:
        """The app's connections here, less the dashboard pages' own."""
        app_id = app.settings.id
        return max(0, app.connection_count - len(self._listeners.get(app_id, ())))

    def _local_figures(self, now: float) -> dict[str, tuple[int, float]]:
        apps = self._apps()
        rates = self._meter.rates(message_totals(app.settings.id for app in apps), now)
        return {
            app.settings.id: (self._local_connections(app), rates.get(app.settings.id, 0.0))
            for app in apps
        }

    def _cluster_figures(
        self, local: dict[str, tuple[int, float]], now: float
    ) -> dict[str, tuple[int, float]]:
        """This node's figures plus the latest of every node heard from recently."""
        totals = dict(local)
        for node_id, (received, apps) in list(self._remote_figures.items()):
            if now - received > REMOTE_FIGURES_SECONDS:
                del self._remote_figures[node_id]
                continue
            for app_id, (connections, rate) in apps.items():
                mine = totals.get(app_id, (0, 0.0))
                totals[app_id] = (mine[0] + connections, mine[1] + rate)
        return totals

    def _figures(self) -> dict[str, dict[str, float]]:
        """Connections now (remote: as of their last tick), messages/s of the last sample."""
        now = self._clock()
        live = {app.settings.id: (self._local_connections(app), 0.0) for app in self._apps()}
        figures = {}
        for app_id, (connections, _) in self._cluster_figures(live, now).items():
            ring = self._rings.get(app_id)
            latest = ring.latest if ring is not None else None
            rate = latest.messages_per_second if latest is not None else 0.0
            figures[app_id] = {"connections": connections, "messages_per_second": round(rate, 2)}
        return figures
