"""Where the cluster state lives: the interface the cluster actor's parts use, and its values.

Two stores implement it: `RedisStore` (Lua scripts on one app's keys) and `NatsStore`
(JetStream key-value entries changed by compare-and-set on their revision). Either way each
method that decides a transition (occupied, a new member, a connection within the limit)
decides it atomically, so two nodes changing the same channel at once cannot both decide
"yes". Methods are called from the cluster actor's greenlet only and may block on I/O; an
exception of a type in `errors` means the store could not be reached, and the actor decides
what that means (journal, fail open, answer locally).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

# JOIN statuses
REFUSED, NEW_MEMBER, ALREADY_MEMBER = 0, 1, 2


@dataclass(frozen=True, slots=True)
class SubscriptionsWritten:
    """The outcome of writing one node's count of a channel.

    `change`: 1 the channel became occupied cluster-wide, -1 vacated, 0 neither. `total`: the
    cluster-wide count after the write. `version` orders one channel's totals (a node drops
    one older than the newest it sent). `before`: this node's count before the write (equal
    to the new one: nothing changed)."""

    change: int
    total: int
    version: int
    before: int


@dataclass(frozen=True, slots=True)
class Joined:
    """The outcome of a presence join: a status above and every member after the join."""

    status: int
    members: dict[str, object]


class ClusterStore(ABC):
    """The shared state of a deployment's nodes (see `docs/architecture.md`)."""

    errors: tuple[type[BaseException], ...] = ()

    # -- node registry --

    @abstractmethod
    def beat(self, node: str, expires_ms: int) -> bool:
        """Record that `node` lives until `expires_ms`; True when the registry did not hold it
        (its first beat, or the other nodes reaped it)."""

    @abstractmethod
    def epoch(self) -> str:
        """The id of the data set (written by the first node that finds none): a new one
        means the store lost everything (restarted empty)."""

    @abstractmethod
    def live_nodes(self, now_ms: int) -> set[str]: ...

    @abstractmethod
    def expired_nodes(self, now_ms: int) -> list[str]: ...

    @abstractmethod
    def lock_reap(self, dead: str, reaper: str, seconds: int) -> bool:
        """True for the one node that may reap `dead` for the next `seconds`."""

    @abstractmethod
    def register_app(self, node: str, app_id: str) -> None:
        """`node` holds state of `app_id` (so its reaper knows where to look)."""

    @abstractmethod
    def node_apps(self, node: str) -> set[str]: ...

    @abstractmethod
    def forget_node(self, node: str) -> None:
        """Remove `node` from the registry, once its state is gone."""

    # -- subscriptions --

    @abstractmethod
    def write_subscriptions(
        self, app_id: str, node: str, channel: str, count: int
    ) -> SubscriptionsWritten: ...

    @abstractmethod
    def node_channels(self, app_id: str, node: str) -> list[str]:
        """The channels `node` has a count of (for its reaper)."""

    @abstractmethod
    def channel_totals(self, app_id: str, nodes: set[str]) -> dict[str, int]:
        """Every channel `nodes` hold subscriptions of, with their sum."""

    @abstractmethod
    def channel_total(self, app_id: str, channel: str, nodes: set[str]) -> int: ...

    # -- connections --

    @abstractmethod
    def write_connections(self, app_id: str, node: str, count: int) -> None: ...

    @abstractmethod
    def reserve_connection(self, app_id: str, node: str, mine: int, limit: int) -> bool:
        """Set `node`'s count to `mine` if the sum over nodes stays within `limit`."""

    @abstractmethod
    def connections(self, app_id: str) -> dict[str, int]:
        """Every node's connection count of the app."""

    # -- presence --

    @abstractmethod
    def join(
        self,
        app_id: str,
        node: str,
        channel: str,
        user_id: str,
        info: object,
        max_members: int,
    ) -> Joined:
        """Add `user_id` on `node` unless that makes more than `max_members` (0: no limit)
        distinct members."""

    @abstractmethod
    def leave(self, app_id: str, node: str, channel: str, user_id: str) -> bool:
        """Remove `user_id` on `node`; True when no node holds the user any more (a repeated
        leave is False: member_removed is announced once)."""

    @abstractmethod
    def node_presence_channels(self, app_id: str, node: str) -> list[str]: ...

    @abstractmethod
    def reap_presence(self, app_id: str, channel: str, node: str) -> list[str]:
        """Remove `node`'s members of `channel`; the users no other node holds."""

    @abstractmethod
    def presence_users(self, app_id: str, channel: str, nodes: set[str]) -> set[str]: ...

    @abstractmethod
    def drop_node_app(self, app_id: str, node: str) -> None:
        """Remove what is left of `node`'s state of `app_id` (its connection count, indexes)."""

    # -- housekeeping --

    @abstractmethod
    def maintain(self, node: str, now_ms: int) -> None:
        """Called by every node on every heartbeat: occasional cleaning the store needs."""
