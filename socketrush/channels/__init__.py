"""Channels: one `ChannelActor` per occupied channel, with the messages other layers send it.

Layout: `messages` (what a channel is told), `actor` (subscribers, fan-out, crash release),
`fanout` (the one fan-out loop), `roster` (presence members on this node), `membership` (the
strategy interface), `local` / `clustered` (this node alone, or with the cluster),
`member_view` (late member events across nodes).
"""

from socketrush.channels.actor import ChannelActor
from socketrush.channels.messages import (
    ROUTED,
    Broadcast,
    ChannelSettings,
    ChannelStats,
    Join,
    Leave,
    Member,
    MemberChange,
    Routed,
    Subscriber,
    SubscriptionCount,
    member_change,
    not_subscribed,
)

__all__ = [
    "ROUTED",
    "Broadcast",
    "ChannelActor",
    "ChannelSettings",
    "ChannelStats",
    "Join",
    "Leave",
    "Member",
    "MemberChange",
    "Routed",
    "Subscriber",
    "SubscriptionCount",
    "member_change",
    "not_subscribed",
]
