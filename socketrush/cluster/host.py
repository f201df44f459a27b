"""What the cluster actor needs of its node, and the cluster-wide events it sends through it.

Events the cluster decides (occupied, vacated, member_added, member_removed) go out through
`Host`: a publish reaches local subscribers and every other node; a webhook is queued on this
node only, so each cluster-wide transition produces one webhook.
"""

from __future__ import annotations

import enum
from typing import Protocol

from socketrush.cluster.messages import AppSnapshot
from socketrush.protocol import frames
from socketrush.webhooks import events
from socketrush.webhooks.events import Event


class Reach(enum.Enum):
    """Where `Host.publish` delivers an event the cluster decided."""

    EVERYWHERE = "everywhere"  # this node at once, and every other node
    HERE = "here"  # this node only: Redis is unreachable, the others learn it after
    # every node, this one too only when the event comes back through the adapter, behind
    # what the others published before it (see `Adapter.publish`'s loopback)
    EVERYWHERE_IN_ORDER = "everywhere in order"


class Host(Protocol):
    """The node as the cluster actor sees it (all non-blocking except `snapshot`)."""

    def publish(
        self,
        app_id: str,
        channel: str,
        payload: bytes,
        except_socket_id: str | None,
        reach: Reach = Reach.EVERYWHERE,
    ) -> None: ...

    def announce_count(self, app_id: str, channel: str, total: int, version: int) -> None:
        """The cluster-wide subscription count, to every node's subscribers, and its webhook
        once; nothing if the app does not count subscriptions."""

    def notify(self, app_id: str, event: Event) -> None: ...

    def remote_connections(self, app_id: str, count: int) -> None: ...

    def snapshot(self) -> list[AppSnapshot]: ...


def announce_transition(host: Host, app_id: str, channel: str, change: int) -> None:
    """`change` as the SUBSCRIPTIONS script returns it: 1 occupied, -1 vacated, 0 neither."""
    if change > 0:
        host.notify(app_id, events.channel_occupied(channel))
    elif change < 0:
        host.notify(app_id, events.channel_vacated(channel))


def announce_member_added(
    host: Host,
    app_id: str,
    channel: str,
    user_id: str,
    info: object,
    except_socket_id: str | None = None,
    reach: Reach = Reach.EVERYWHERE,
) -> None:
    payload = frames.member_added(channel, user_id, info)
    host.publish(app_id, channel, payload, except_socket_id, reach)
    host.notify(app_id, events.member_added(channel, user_id))


def announce_member_removed(host: Host, app_id: str, channel: str, user_id: str) -> None:
    host.publish(app_id, channel, frames.member_removed(channel, user_id), None)
    host.notify(app_id, events.member_removed(channel, user_id))
