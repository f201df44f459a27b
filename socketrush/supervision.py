"""How Socket Rush supervises its actors.

Actors that own sockets heal: a crashed app or channel cannot trust its state (a join or a
disconnect half done), so it rebuilds it empty in `on_restart` and releases what the old one
held — its sockets are closed with 4200 (reconnect at once; pusher-js then subscribes again)
and its members leave as their sockets' leaves would have (webhooks, the cluster, other
clients' lists). `healing_supervisor` bounds a crash loop: after `CRASH_LOOP_RESTARTS` restarts
within `CRASH_LOOP_SECONDS` the next crash stops the actor instead (what it still holds and
every message queued for it are released the same way), counted in
socketrush_actors_stopped_total, and its owner replaces it on demand:

* a channel: its subscribers, and the sockets whose joins were queued, get 4200; its app
  forgets it, and the next subscribe starts a new channel actor;
* an app: every connection of the app on this node gets 4200 and its channels are stopped;
  the node forgets it, and the next connection or API call starts a new app actor.

Node-wide actors (webhook notifiers, cluster state, cache actor, Redis publisher) own no
sockets and each message they handle stands alone (one webhook, one cache write, one Redis
write, which the cluster actor's recovery compares with the apps' state again): they are
restarted however often they crash (`counted_supervisor`), because stopping one would cut the
whole node off from webhooks, the cache or the other nodes until the process restarts. Their
restart counter and the crash logs are what tell an operator.
"""

from __future__ import annotations

from collections.abc import Callable

from actors import Actor, Supervisor
from socketrush import metrics

CRASH_LOOP_RESTARTS = 5
CRASH_LOOP_SECONDS = 10.0

OnStopped = Callable[[Actor], None]


def counted_supervisor(app_id: str = metrics.NODE_WIDE) -> Supervisor:
    """Restart forever; counts restarts in socketrush_actor_restarts_total under `app_id`
    (node-wide actors: `metrics.NODE_WIDE`)."""
    return Supervisor(max_restarts=None, on_restart=metrics.restart_counter(app_id))


class HealingSupervisor(Supervisor):
    """For app and channel actors, which rebuild their own state when restarted (see the
    module docstring). A child stopped by the crash-loop guard is counted and handed to
    `on_stopped` (in the child's greenlet: an owner that is an actor should tell itself)."""

    def __init__(
        self,
        app_id: str,
        on_stopped: OnStopped | None = None,
        max_restarts: int = CRASH_LOOP_RESTARTS,
        within: float = CRASH_LOOP_SECONDS,
    ) -> None:
        super().__init__(
            max_restarts=max_restarts,
            within=within,
            on_restart=metrics.restart_counter(app_id),
        )
        self._app_id = app_id
        self._on_stopped = on_stopped

    def child_stopped(self, actor: Actor, error: BaseException) -> None:
        metrics.ACTORS_STOPPED.labels(self._app_id, type(actor).__name__).inc()
        if self._on_stopped is not None:
            self._on_stopped(actor)
