"""Probes and figures for operators: ``/`` (alive), ``/ready``, ``/accept-traffic`` and
``/usage``. Unsigned, like Pusher-compatible servers' own health endpoints."""

from __future__ import annotations

import resource
import time

from flask import Blueprint, Response

from socketrush.http.responses import json_response, text_response
from socketrush.node import Node


def health_blueprint(node: Node) -> Blueprint:
    views = Blueprint("health", __name__)

    @views.get("/")
    def health() -> Response:
        return text_response("OK")

    @views.get("/ready")
    def ready() -> Response:
        if node.ready and node.adapter.healthy:
            return text_response("OK")
        return text_response("NOT READY", 503)

    @views.get("/accept-traffic")
    def accept_traffic() -> Response:
        """For load balancers: may new connections come here? No while starting or draining;
        unlike /ready it ignores the adapter, since local clients are still served."""
        if node.ready:
            return text_response("OK")
        return text_response("NOT ACCEPTING TRAFFIC", 503)

    @views.get("/usage")
    def usage() -> Response:
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return json_response(
            {
                "memory": {"rss_bytes": _current_rss_bytes(), "max_rss_bytes": rss_kb * 1024},
                "connections": node.connection_count(),
                "uptime_seconds": round(time.time() - node.started_at, 3),
            }
        )

    return views


def _current_rss_bytes() -> int:
    """Resident memory now (Linux), from /proc; the rusage figure is only the peak."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize()
    except OSError:
        return 0
