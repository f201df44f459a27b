"""Apps: one `AppActor` per app on this node, and the messages other layers send it.

Layout: `messages` (what connections, the HTTP API and the node tell or ask an app), `actor`
(registries, routing, supervision of channels), `queries` (its answers about channels, users
and its snapshot), `users` (signed-in users and watchlists).
"""

from socketrush.app.actor import AppActor
from socketrush.app.messages import (
    ChannelEmpty,
    ChannelStopped,
    CloseAll,
    Connect,
    Connection,
    Disconnect,
    ListChannels,
    Publish,
    QueryChannel,
    QueryUsers,
    RemoteConnections,
    SignIn,
    Snapshot,
    Subscribe,
    TerminateUser,
    Unsubscribe,
    UpdateSettings,
    server_to_user_channel,
)

__all__ = [
    "AppActor",
    "ChannelEmpty",
    "ChannelStopped",
    "CloseAll",
    "Connect",
    "Connection",
    "Disconnect",
    "ListChannels",
    "Publish",
    "QueryChannel",
    "QueryUsers",
    "RemoteConnections",
    "SignIn",
    "Snapshot",
    "Subscribe",
    "TerminateUser",
    "Unsubscribe",
    "UpdateSettings",
    "server_to_user_channel",
]
