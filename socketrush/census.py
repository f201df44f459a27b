"""A census of what one node holds now, taken when /metrics is scraped.

Users judge a server by whether it is still healthy after a week; a leak shows as a figure
that grows while the load stays level, or that does not return to its baseline once every
client has left. These figures are the server's own counts of the things a connection, a
channel or a member leaves behind: live actors by kind and their mailboxes, armed timers,
event-loop watchers, connections, signed-in users, channel actors by kind, subscriptions and
presence members. RSS and open descriptors come from prometheus-client's process collector.

Nothing here is counted on a hot path: the census walks the actor census (actors/census.py)
and the app actors' registries at scrape time, without yielding, so it reads one consistent
moment (the same non-yielding reads of counters the HTTP API's channel queries make).

The heap census (`metrics_count_objects`) goes further for leak hunting: a full garbage
collection, then live greenlets and our own objects by class, counted by walking the heap.
That costs tens of milliseconds per million objects and stalls the node meanwhile, so it is
off unless asked for. Objects frozen at start-up (gc_tuning.py) are not walked: the counts
are of what was created since the node started serving.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gevent
from greenlet import greenlet
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from actors import census as actor_census
from actors.runners import idle_runners, parked_runners
from actors.timer import pending_timers
from socketrush.channels import ChannelActor
from socketrush.connection.activity import ACTIVITY

if TYPE_CHECKING:
    from socketrush.node import Node

# Classes of these packages are counted by the heap census (a bounded set of label values).
OWN_PACKAGES = ("socketrush.", "actors.")


@dataclass(frozen=True, slots=True)
class Census:
    """One moment of one node."""

    actors: dict[str, int]  # live actors by class
    mailbox_messages: int  # queued in every live actor's mailbox together
    mailbox_max: int  # the fullest mailbox
    timers: int  # armed one-shot timers (activity, sign-in, close, tell_later)
    loop_watchers: int  # active libev watchers: sockets read, timers, callbacks
    idle_runners: int  # greenlets parked for the next actor's work (actors/runners.py)
    connections: int  # connections the apps hold
    users: int  # signed-in users with a socket here
    watched_users: int  # users some socket here watches (watchlists)
    channels: dict[str, int]  # live channel actors by kind, e.g. "presence", "cache-private"
    subscriptions: int  # subscribers over every channel actor
    members: int  # presence members over every presence channel actor


@dataclass(frozen=True, slots=True)
class HeapCensus:
    """Live objects after a full collection (see the module docstring)."""

    greenlets: int  # the event loop's, not yet finished, parked runners left out
    objects: dict[str, int] = field(default_factory=dict)  # our classes by name
    seconds: float = 0.0  # what the collection and the walk cost


def channel_kind(channel: ChannelActor) -> str:
    info = channel.info
    return f"cache-{info.kind.value}" if info.is_cache else info.kind.value


def take(node: Node) -> Census:
    """Count without yielding, so every figure describes the same moment."""
    live = actor_census.live_actors()
    depths = [actor.mailbox_depth for actor in live]
    channels = [actor for actor in live if isinstance(actor, ChannelActor)]
    stats = [channel.stats() for channel in channels]
    apps = node.apps
    return Census(
        actors=dict(Counter(type(actor).__name__ for actor in live)),
        mailbox_messages=sum(depths),
        mailbox_max=max(depths, default=0),
        timers=pending_timers() + len(ACTIVITY),  # the wheel's: one per connection
        loop_watchers=gevent.get_hub().loop.activecnt,
        idle_runners=idle_runners(),
        connections=sum(app.connection_count for app in apps),
        users=sum(app.user_count for app in apps),
        watched_users=sum(app.watched_user_count for app in apps),
        channels=dict(Counter(channel_kind(channel) for channel in channels)),
        subscriptions=sum(s.subscription_count for s in stats),
        members=sum(s.user_count or 0 for s in stats),
    )


def take_heap() -> HeapCensus:
    """Collect, then count live greenlets and our own objects by class."""
    started = time.perf_counter()
    gc.collect()
    objects = gc.get_objects()
    by_type = Counter(map(type, objects))
    greenlet_types = {kind for kind in by_type if issubclass(kind, greenlet)}
    parked = set(map(id, parked_runners()))
    hub = gevent.get_hub()
    # The event loop's own: gevent's pool threads (name lookups) bring greenlets of their
    # own, which go when the thread has been idle a few seconds.
    alive = sum(
        1
        for obj in objects
        if type(obj) in greenlet_types
        and not obj.dead
        and obj.parent is hub
        and id(obj) not in parked
    )
    own = {kind.__qualname__: count for kind, count in by_type.items() if _is_own(kind)}
    del objects
    return HeapCensus(alive, own, time.perf_counter() - started)


def _is_own(kind: type) -> bool:
    module = vars(kind).get("__module__")  # a class's own; some C types have a descriptor
    return isinstance(module, str) and module.startswith(OWN_PACKAGES)


class CensusCollector(Collector):
    """Exports a node's census as gauges, taken afresh on every scrape."""

    def __init__(self, node: Node, heap: bool = False) -> None:
        self._node = node
        self._heap = heap

    def collect(self) -> Iterator[GaugeMetricFamily]:
        census = take(self._node)
        yield _by_label("socketrush_census_actors", "Live actors by class", "kind", census.actors)
        yield _gauge(
            "socketrush_census_mailbox_messages",
            "Messages queued in all actors' mailboxes together",
            census.mailbox_messages,
        )
        yield _gauge(
            "socketrush_census_mailbox_max",
            "Messages queued in the fullest mailbox",
            census.mailbox_max,
        )
        yield _gauge("socketrush_census_timers", "Armed one-shot timers", census.timers)
        yield _gauge(
            "socketrush_census_loop_watchers",
            "Active event-loop watchers (socket reads, timers, callbacks)",
            census.loop_watchers,
        )
        yield _gauge(
            "socketrush_census_idle_runners",
            "Greenlets parked for the next piece of actor work",
            census.idle_runners,
        )
        yield _gauge(
            "socketrush_census_connections", "Connections the apps hold", census.connections
        )
        yield _gauge("socketrush_census_users", "Signed-in users with a socket here", census.users)
        yield _gauge(
            "socketrush_census_watched_users",
            "Users watched by a signed-in socket here",
            census.watched_users,
        )
        yield _by_label(
            "socketrush_census_channels", "Live channel actors by kind", "kind", census.channels
        )
        yield _gauge(
            "socketrush_census_subscriptions",
            "Subscribers over every channel actor",
            census.subscriptions,
        )
        yield _gauge(
            "socketrush_census_members", "Presence members over every channel", census.members
        )
        if self._heap:
            heap = take_heap()
            yield _gauge(
                "socketrush_census_greenlets",
                "Unfinished greenlets of the event loop created since start-up, parked runners "
                "left out",
                heap.greenlets,
            )
            yield _by_label(
                "socketrush_census_objects",
                "Live objects of Socket Rush's own classes, after a full collection",
                "type",
                heap.objects,
            )
            yield _gauge(
                "socketrush_census_heap_seconds",
                "What the last heap census cost (collection and walk)",
                heap.seconds,
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _by_label(
    name: str, documentation: str, label: str, values: dict[str, int]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def export(node: Node, heap: bool = False) -> CensusCollector:
    """Serve this node's census with the process's metrics (not in multiprocess mode, whose
    exporter sums files the workers write: see metrics.registry)."""
    collector = CensusCollector(node, heap)
    REGISTRY.register(collector)
    return collector
