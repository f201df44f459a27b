"""The figures a soak watches on each node, read from its /metrics (the census, docs/metrics.md,
plus prometheus-client's RSS and descriptor counts), their slopes, and the two leak checks:

* trend: after warm-up no figure grows with time. A figure grows when its least-squares slope
  is above three standard errors (clear of the noise) and larger than its tolerance: RSS a
  stated number of MiB per ten minutes, judged over five minutes or more (the allocator's
  arenas grow in steps, so a shorter window extrapolates noise); a count, a rise over the
  window above a quarter of its level (or a few units for small counts).
* baseline: once every client has left, every figure that describes clients (connections,
  channel actors, members, timers, greenlets, descriptors, ...) is back where it started.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gevent
from prometheus_client.parser import text_string_to_metric_families

from loadtests.soak_processes import HOST, Node

MIB = 2**20


def _one(name: str, scale: float = 1.0, **labels: str) -> Callable[[dict], float]:
    wanted = tuple(sorted(labels.items()))
    return lambda samples: samples.get((name, wanted), 0.0) * scale


def _sum(name: str) -> Callable[[dict], float]:
    return lambda samples: sum(v for (n, _), v in samples.items() if n == name)


READERS: dict[str, Callable[[dict], float]] = {
    "rss_mib": _one("process_resident_memory_bytes", 1 / MIB),
    "fds": _one("process_open_fds"),
    "greenlets": _one("socketrush_census_greenlets"),
    "actors": _sum("socketrush_census_actors"),
    "channels": _sum("socketrush_census_channels"),
    "connections": _one("socketrush_census_connections"),
    "subscriptions": _one("socketrush_census_subscriptions"),
    "members": _one("socketrush_census_members"),
    "users": _one("socketrush_census_users"),
    "watched_users": _one("socketrush_census_watched_users"),
    "timers": _one("socketrush_census_timers"),
    "loop_watchers": _one("socketrush_census_loop_watchers"),
    "mailbox_messages": _one("socketrush_census_mailbox_messages"),
    "mailbox_max": _one("socketrush_census_mailbox_max"),
    "socket_objects": _one("socketrush_census_objects", type="SocketActor"),
    "restarts": _sum("socketrush_actor_restarts_total"),
    "heap_census_ms": _one("socketrush_census_heap_seconds", 1000),
}
# Back at the baseline once every client has left (the node never restarted)...
BASELINE_FIGURES = (
    "fds_not_redis", "greenlets", "actors", "channels", "connections", "subscriptions", "members",
    "users", "watched_users", "timers", "loop_watchers", "mailbox_messages", "socket_objects",
)  # fmt: skip
# ...or, for a node restarted during the run, at zero.
EMPTY_FIGURES = (
    "channels", "connections", "subscriptions", "members", "users", "watched_users",
    "mailbox_messages", "socket_objects",
)  # fmt: skip
# Counts whose trend is judged; each may rise over the window by max(absolute, 25 % of level).
TREND_TOLERANCE = {
    "fds": 20, "redis_connections": 10, "greenlets": 10, "actors": 10, "channels": 10, "connections": 20,
    "subscriptions": 40, "members": 10, "timers": 20, "loop_watchers": 40, "socket_objects": 20,
}  # fmt: skip
RELATIVE_TOLERANCE = 0.25
SIGNIFICANCE = 3.0  # standard errors a slope must clear to count as growth
RSS_WINDOW_SECONDS = 300.0  # RSS is judged over at least five minutes after warm-up


def scrape(node: Node) -> dict[tuple[str, tuple], float]:
    url = f"http://{HOST}:{node.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def read(node: Node, redis_port: int | None = None) -> dict[str, float]:
    """The node's figures; with `redis_port`, also its connections to Redis (read from
    /proc), which its client pools open as concurrency needs and keep: they are told apart
    from the descriptors that must return to their baseline."""
    samples = scrape(node)
    figures = {name: reader(samples) for name, reader in READERS.items()}
    to_redis = connections_to(node, redis_port) if redis_port else 0
    figures["redis_connections"] = to_redis
    figures["fds_not_redis"] = figures["fds"] - to_redis
    return figures


def connections_to(node: Node, port: int) -> int:
    """Established TCP connections of the node's process to `port` on loopback."""
    assert node.process is not None
    pid = node.process.pid
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    wanted = f":{port:04X}"
    count = 0
    with open(f"/proc/{pid}/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[2].endswith(wanted) and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # seconds since the phase started
    start: int  # which start of the node (a restarted node begins a new series)
    figures: dict[str, float]


@dataclass
class Series:
    node: str
    samples: list[Sample] = field(default_factory=list)


class Sampler:
    """Reads every live node every `interval` seconds until stopped."""

    def __init__(self, nodes: Sequence[Node], interval: float, redis_port: int | None) -> None:
        self.nodes = list(nodes)
        self.redis_port = redis_port
        self.interval = interval
        self.series = {node.name: Series(node.name) for node in nodes}
        self.started = time.monotonic()

    def run(self, stop: gevent.event.Event) -> None:
        while not stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        at = time.monotonic() - self.started
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                figures = read(node, self.redis_port)
            except OSError:  # killed between the check and the scrape
                continue
            self.series[node.name].samples.append(Sample(at, node.starts, figures))


def slope(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope per second, and its standard error (0 when it cannot be told)."""
    n = len(points)
    if n < 3:
        return 0.0, 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if not var:
        return 0.0, 0.0
    fitted = sum((t - mean_t) * (y - mean_y) for t, y in points) / var
    residuals = sum((y - mean_y - fitted * (t - mean_t)) ** 2 for t, y in points)
    return fitted, math.sqrt(residuals / (n - 2) / var)


@dataclass
class Trend:
    per_10_min: dict[str, float]  # slope of every figure
    failures: list[str]
    window: float  # seconds judged
    samples: int


def trend(series: Series, warm_up: float, rss_bound_mib: float, until: float) -> Trend:
    """Judge the samples of the node's latest start taken after `warm_up` and before `until`
    (when the clients began to leave)."""
    latest = max((s.start for s in series.samples), default=0)
    points = [s for s in series.samples if s.start == latest and warm_up <= s.at <= until]
    if len(points) < 3:
        return Trend({}, [], 0.0, len(points))
    window = points[-1].at - points[0].at
    slopes, failures = {}, []
    for name in points[0].figures:
        values = [(s.at, s.figures[name]) for s in points]
        per_second, error = slope(values)
        slopes[name] = round(per_second * 600, 2)
        # Growth only counts when the slope is clearly above the noise (three standard
        # errors): a short window of a wandering count proves nothing either way, while a
        # long one measures even a slow leak precisely.
        if per_second <= SIGNIFICANCE * error:
            continue
        if name == "rss_mib" and window < RSS_WINDOW_SECONDS:
            continue  # a few seconds of RSS say nothing about ten minutes
        if name == "rss_mib" and per_second * 600 > rss_bound_mib:
            failures.append(
                f"{series.node}: RSS grows {per_second * 600:.1f} MiB per 10 min "
                f"(bound {rss_bound_mib:g})"
            )
        elif name in TREND_TOLERANCE:
            level = sum(v for _, v in values) / len(values)
            rise = per_second * window
            allowed = max(TREND_TOLERANCE[name], RELATIVE_TOLERANCE * level)
            if rise > allowed:
                failures.append(
                    f"{series.node}: {name} rose by {rise:.1f} over {window:.0f}s "
                    f"(level {level:.0f}, allowed {allowed:.0f})"
                )
    return Trend(slopes, failures, round(window, 1), len(points))


def leftovers(baseline: dict[str, float] | None, now: dict[str, float]) -> dict[str, float]:
    """What a node still holds once every client has left: the change from its baseline, or
    (a node that was restarted, `baseline` None) whatever describes clients and is not 0."""
    if baseline is None:
        return {name: now[name] for name in EMPTY_FIGURES if now[name]}
    return {
        name: now[name] - baseline[name] for name in BASELINE_FIGURES if now[name] != baseline[name]
    }


def settle(
    node: Node, baseline: dict[str, float] | None, timeout: float, redis_port: int | None
) -> dict[str, float]:
    """Wait until the node holds nothing more than its baseline (timers of closing handshakes
    and delayed webhooks run out meanwhile); returns what is left after `timeout` otherwise.
    Polled: another process sends no event when it is done."""
    deadline = time.monotonic() + timeout
    while True:
        left = leftovers(baseline, read(node, redis_port))
        if not left or time.monotonic() > deadline:
            return left
        gevent.sleep(0.5)
