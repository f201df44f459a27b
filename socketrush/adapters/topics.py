"""Topics: what one cross-node subscription carries, so that a node receives only what its own
sockets (or its dashboard pages) need. This is interest routing: a node listens to a topic only
while something on it wants the topic's traffic.

| topic | carries | a node listens while |
|---|---|---|
| a channel's | its broadcasts and `SubscriptionTotal`s | it has the channel's actor (subscribers, or joins on their way) |
| a user's | `sendToUser` events (`#server-to-user-<id>`) and `TerminateUserConnections` | the user is signed in on it |
| an app's console | the dashboard's debug records of that app | it has a dashboard page on that app's console |
| the dashboard's | who watches which console, every node's figures (node-wide) | its dashboard is enabled |

Each adapter names a topic in its bus's terms (`RedisKeys.topic`, `NatsNames.topic`).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from socketrush.adapters.messages import (
    ConsoleRecord,
    ConsoleWatched,
    NodeFigures,
    NodeMessage,
    RemoteBroadcast,
    SubscriptionTotal,
    TerminateUserConnections,
)
from socketrush.protocol.channels import SERVER_TO_USER_PREFIX


class TopicKind(enum.Enum):
    CHANNEL = "c"
    USER = "u"
    CONSOLE = "d"
    DASHBOARD = "dashboard"


class Topic(NamedTuple):
    kind: TopicKind
    app_id: str  # "" for the node-wide dashboard topic
    name: str  # the channel or the user id; "" for the dashboard topics


DASHBOARD = Topic(TopicKind.DASHBOARD, "", "")


def channel_topic(app_id: str, channel: str) -> Topic:
    """A server-to-user channel rides its user's topic, with the commands about that user."""
    if channel.startswith(SERVER_TO_USER_PREFIX):
        return Topic(TopicKind.USER, app_id, channel[len(SERVER_TO_USER_PREFIX) :])
    return Topic(TopicKind.CHANNEL, app_id, channel)


def console_topic(app_id: str) -> Topic:
    return Topic(TopicKind.CONSOLE, app_id, "")


def topic_of(message: NodeMessage) -> Topic:
    """The topic `message` travels on."""
    if isinstance(message, RemoteBroadcast | SubscriptionTotal):
        return channel_topic(message.app_id, message.channel)
    if isinstance(message, TerminateUserConnections):
        return Topic(TopicKind.USER, message.app_id, message.user_id)
    if isinstance(message, ConsoleRecord):
        return console_topic(message.app_id)
    assert isinstance(message, ConsoleWatched | NodeFigures)
    return DASHBOARD
