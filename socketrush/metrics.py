"""Prometheus metrics: the metric objects every part of the server counts into, and the
exporter that serves them on their own port.

The objects are module-level so that counting is one attribute lookup and no wiring; they live
in prometheus-client's default registry. Under gunicorn each worker is a process with its own
counters: set `PROMETHEUS_MULTIPROC_DIR` (an empty directory, before the workers start) and
prometheus-client writes each process's values to files there, which the exporter sums. Gauges
that describe live state use the `livesum` mode, so a dead worker's connections stop counting.

Hot paths pre-bind their labels once (e.g. per connection) and must never count per recipient
of a broadcast: a broadcast adds its recipient count in one call (`count_broadcast`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable

import gevent
from gevent.pywsgi import WSGIServer
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    make_wsgi_app,
    multiprocess,
)

from socketrush import tally

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
RETRY_BIND_SECONDS = 5.0  # a gunicorn worker waiting to take over the metrics port

# -- connections --

CONNECTIONS = Gauge(
    "socketrush_connections",
    "WebSocket connections open now",
    ["app_id"],
    multiprocess_mode="livesum",
)
CONNECTIONS_OPENED = Counter(
    "socketrush_connections_opened",
    "WebSocket connections upgraded (app_id is empty when the key matched no app)",
    ["app_id"],
)
CONNECTIONS_CLOSED = Counter(
    "socketrush_connections_closed",
    "WebSocket connections ended, by close code (1006: dropped without a close frame)",
    ["app_id", "code"],
)
MESSAGES_IN = Counter("socketrush_ws_messages_received", "WebSocket messages received", ["app_id"])
BYTES_IN = Counter("socketrush_ws_bytes_received", "WebSocket bytes received (wire)", ["app_id"])
MESSAGES_OUT = Counter("socketrush_ws_messages_sent", "WebSocket messages sent", ["app_id"])
BYTES_OUT = Counter("socketrush_ws_bytes_sent", "WebSocket bytes sent (wire)", ["app_id"])
SLOW_CONSUMERS = Counter(
    "socketrush_slow_consumer_disconnects",
    "Connections closed because their outbound backlog passed socket_backlog_limit_kb",
    ["app_id"],
)
HANDSHAKE_TIMEOUTS = Counter(
    "socketrush_handshake_timeouts",
    "Connections closed because their TLS handshake or HTTP request head took longer than "
    "handshake_timeout_ms (slow or silent clients)",
)
REQUEST_BODY_TIMEOUTS = Counter(
    "socketrush_request_body_timeouts",
    "HTTP requests answered 408 and closed because their body took longer than "
    "request_body_timeout_ms to arrive (slow or stalled clients)",
)
FRAME_TIMEOUTS = Counter(
    "socketrush_frame_timeouts",
    "WebSocket connections closed because a frame took longer than frame_timeout_ms to arrive",
    ["app_id"],
)
RATE_LIMITED = Counter(
    "socketrush_rate_limit_rejections",
    "Requests or client events refused by a per-second limit",
    ["app_id", "kind"],  # backend_events | read_requests | client_events
)
RATE_LIMIT_UNCHECKED = Counter(
    "socketrush_rate_limit_unchecked",
    "HTTP API requests let through without a rate limit check because Redis did not answer",
    ["app_id", "kind"],
)

# -- HTTP API --

HTTP_REQUESTS = Counter(
    "socketrush_http_requests",
    "HTTP API calls, by endpoint (view name) and status",
    ["app_id", "endpoint", "status"],
)

# -- webhooks and their queue --

WEBHOOKS_SENT = Counter("socketrush_webhooks_sent", "Webhook jobs delivered (2xx)", ["app_id"])
WEBHOOKS_FAILED = Counter(
    "socketrush_webhooks_failed", "Webhook jobs given up on after their last attempt", ["app_id"]
)
WEBHOOKS_RETRIED = Counter(
    "socketrush_webhooks_retried", "Webhook attempts that failed and were retried", ["app_id"]
)
WEBHOOKS_DEAD_LETTERED = Counter(
    "socketrush_webhooks_dead_lettered",
    "Jobs moved to the dead-letter list: failed, refused by a full queue or cut by shutdown",
    ["app_id"],
)
QUEUE_DEPTH = Gauge(
    "socketrush_queue_depth",
    "Jobs waiting in this process (local queue, or the redis or sqs queue's push buffer)",
    ["driver"],
    multiprocess_mode="livesum",
)
QUEUE_SHARED_DEPTH = Gauge(
    "socketrush_queue_shared_depth",
    "Jobs waiting in the shared queue (the Redis list, or SQS's ApproximateNumberOfMessages), "
    "as last read by this node",
    multiprocess_mode="livemax",
)

# -- defined here, counted by the actors and adapters that own the events --

APP_LOOKUP_FAILURES = Counter(
    "socketrush_app_lookup_failures",
    "App lookups the app manager (database, DynamoDB) could not answer; logged once per outage",
)
ACTOR_RESTARTS = Counter(
    "socketrush_actor_restarts", "Actors restarted by their supervisor", ["app_id", "actor"]
)
ACTORS_STOPPED = Counter(
    "socketrush_actors_stopped",
    "App and channel actors stopped after a crash loop; their sockets were closed with 4200",
    ["app_id", "actor"],
)
ADAPTER_PUBLISHED = Counter(
    "socketrush_adapter_published", "Broadcasts published to other nodes", ["app_id"]
)
ADAPTER_RECEIVED = Counter(
    "socketrush_adapter_received", "Broadcasts received from other nodes", ["app_id"]
)
ADAPTER_RECONNECTS = Counter("socketrush_adapter_reconnects", "Adapter reconnections (Redis, NATS)")
ADAPTER_TOPICS = Gauge(
    "socketrush_adapter_topics",
    "Topics (channels, users, dashboards) this node listens to on the bus",
    multiprocess_mode="livesum",
)
ADAPTER_UNORDERED = Counter(
    "socketrush_adapter_unordered",
    "HTTP API events the bus did not take: delivered on this node at once and queued for the"
    " others, without the cross-node order guarantee",
    ["app_id"],
)
ADAPTER_RESUBSCRIBED = Counter(
    "socketrush_adapter_resubscribed",
    "Topics subscribed again after a reconnect to the bus (Redis, NATS)",
)

# The app_id label of actors that serve every app of a node (cluster state, cache, Redis
# publisher): the same value as for connections that matched no app, "no app in particular".
NODE_WIDE = ""


def restart_counter(app_id: str) -> Callable[[object, BaseException], None]:
    """An `on_restart` hook for the supervisors of one app's actors (see actors.Supervisor).

    The `actor` label is the actor's class: names are per instance (one per channel), and a
    series per channel would grow without bound."""

    def count(actor: object, error: BaseException) -> None:
        ACTOR_RESTARTS.labels(app_id, type(actor).__name__).inc()

    return count


def count_broadcast(app_id: str, recipients: int, frame_bytes: int, frames: int = 1) -> None:
    """One broadcast of `frame_bytes` (holding `frames` messages) to `recipients` sockets:
    two increments, whatever the fan-out."""
    if recipients:
        messages, size = _outbound_tallies(app_id)
        messages.pending += recipients * frames
        size.pending += recipients * frame_bytes


@functools.cache
def _outbound_tallies(app_id: str) -> tuple[tally.Tally, tally.Tally]:
    return tally.tally(MESSAGES_OUT.labels(app_id)), tally.tally(BYTES_OUT.labels(app_id))


@functools.cache
def connection_tallies(app_id: str) -> tuple[tally.Tally, tally.Tally]:
    """(connections opened, connections open now) of one app, counted per connection without
    a label lookup or a lock; the gauge's tally adds and subtracts."""
    return tally.tally(CONNECTIONS_OPENED.labels(app_id)), tally.tally(CONNECTIONS.labels(app_id))


@functools.cache
def closed_tally(app_id: str, code_label: str) -> tally.Tally:
    """Connections of one app ended with a close code, labelled as `protocol.errors.
    close_code_label` buckets it: a few dozen labels, whatever codes clients choose."""
    return tally.tally(CONNECTIONS_CLOSED.labels(app_id, code_label))


def registry() -> CollectorRegistry:
    """What the exporter serves: this process's metrics, or every process's in multiprocess
    mode (a fresh registry, as prometheus-client asks, so nothing is counted twice)."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    shared = CollectorRegistry()
    multiprocess.MultiProcessCollector(shared)
    return shared


def build_exporter(bind_address: str, port: int) -> WSGIServer:
    """The metrics endpoint (any path answers), unstarted: `start()` raises OSError if the
    port is taken."""
    serve_metrics = make_wsgi_app(registry())

    def flush_then_serve(environ: dict, start_response: Callable) -> Iterable[bytes]:
        tally.flush_all()  # what this process tallied so far is in the answer
        return serve_metrics(environ, start_response)

    return WSGIServer((bind_address, port), flush_then_serve, log=None)


def serve_when_free(bind_address: str, port: int) -> gevent.Greenlet:
    """For gunicorn workers: whichever worker binds the port first serves every worker's
    metrics (multiprocess mode); the others keep trying, so a restarted or dead worker's
    place is taken over."""

    def keep_trying() -> None:
        while True:
            exporter = build_exporter(bind_address, port)
            try:
                exporter.start()
            except OSError:
                gevent.sleep(RETRY_BIND_SECONDS)
                continue
            log.info("serving metrics on http://%s:%d/metrics", bind_address, port)
            exporter.serve_forever()  # started already: waits until stopped
            return

    return gevent.spawn(keep_trying)


def worker_exited(pid: int) -> None:
    """Call from gunicorn's `child_exit` hook: drops the dead worker's live gauges."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
