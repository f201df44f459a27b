"""How Socket Rush supervises its actors: restart forever, and count every restart.

No owner can yet replace a stopped app, channel, notifier, cluster or cache actor (its sockets
or its work would be cut off for good), so the crash-loop guard stays off; the restart counter
and the crash logs are what tell an operator.
"""

from __future__ import annotations

from actors import Supervisor
from socketrush import metrics


def counted_supervisor(app_id: str = metrics.NODE_WIDE) -> Supervisor:
    """Counts restarts in socketrush_actor_restarts_total under `app_id` (node-wide actors:
    `metrics.NODE_WIDE`)."""
    return Supervisor(max_restarts=None, on_restart=metrics.restart_counter(app_id))
