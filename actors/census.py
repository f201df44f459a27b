"""Which actors are alive now: for introspection (metrics, leak tests), never for control.

An actor is counted from `start()` until its `on_stop` has run. The set holds weak references:
counting an actor must never be what keeps it alive, so an actor that was dropped without
being stopped (and holds no timer) leaves the count when it is collected. A count that keeps
growing while the load stays level is the leak this exists to show.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING
from weakref import WeakSet

if TYPE_CHECKING:
    from actors.actor import Actor

_live: WeakSet[Actor] = WeakSet()


def track(actor: Actor) -> None:
    """Called by `Actor.start`."""
    _live.add(actor)


def forget(actor: Actor) -> None:
    """Called once the actor has stopped."""
    _live.discard(actor)


def live_actors() -> list[Actor]:
    """A snapshot of the started, not yet stopped actors (safe to iterate while they change)."""
    return list(_live)


def live_by_kind() -> Counter[str]:
    """Live actors by class name (one name per kind, never per instance)."""
    return Counter(type(actor).__name__ for actor in list(_live))
