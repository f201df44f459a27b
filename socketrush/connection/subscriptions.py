"""`pusher:subscribe` and `pusher:unsubscribe`: check the channel name and its signature,
then let the app actor (which owns the channels) do the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from socketrush.app import Subscribe as JoinChannel
from socketrush.app import Unsubscribe as LeaveChannel
from socketrush.app import server_to_user_channel
from socketrush.channels import Member
from socketrush.connection.presence import presence_member
from socketrush.protocol import frames
from socketrush.protocol.channels import ChannelKind, classify, validate_channel_name
from socketrush.protocol.client_messages import Subscribe, Unsubscribe
from socketrush.protocol.errors import Err
from socketrush.protocol.signatures import channel_auth_valid

if TYPE_CHECKING:
    from socketrush.connection.actor import SocketActor

# An enum member looked up on its class costs ~1,000 instructions; a global, a few dozen.
_SERVER_TO_USER = ChannelKind.SERVER_TO_USER


def subscribe(conn: SocketActor, request: Subscribe) -> None:
    assert conn.app is not None
    name = request.channel
    feed = conn.node.dashboard.feed
    if feed.take_subscribe(conn.app_id, conn, name, request.auth):
        return  # the dashboard's debug channel
    settings = conn.app.settings
    problem = validate_channel_name(name, settings.max_channel_name_length)
    info = classify(name)
    if problem is None and info.kind is _SERVER_TO_USER:
        _subscribe_own_user_channel(conn, name)
        return
    if problem is not None:
        conn.fail(problem, f"{problem.message}: {name[:210]}")
        return
    member: Member | None = None
    if info.requires_auth:
        auth = request.auth
        channel_data = request.channel_data if info.is_presence else None
        if (
            auth is None
            or (info.is_presence and channel_data is None)
            or not channel_auth_valid(
                settings.key, settings.secret, conn.socket_id, name, auth, channel_data
            )
        ):
            conn.refuse(name, Err.SUBSCRIPTION_BAD_AUTH)
            return
        if info.is_presence:
            assert channel_data is not None
            found = presence_member(channel_data, settings.max_presence_member_size_in_kb)
            if not isinstance(found, Member):
                conn.refuse(name, *found)
                return
            member = found
    # A repeated subscribe changes no membership: the channel answers it again as the member
    # the socket already is. The user id recorded here stays too, so the socket's client
    # events name that member, not a user of the new channel_data who never joined.
    recorded = conn.channels.setdefault(name, member.user_id if member is not None else None)
    feed.subscribed(conn.app_id, conn.socket_id, name, recorded)
    # Handled at once when the app and the channel are idle (no hand-over to a runner each):
    # neither blocks, and the socket's own messages keep their order either way. A channel
    # that exists needs no message to the app at all.
    app = conn.app
    if not app.join_at_once(conn, info, member):
        app.tell_inline(JoinChannel(conn, info, member))


def _subscribe_own_user_channel(conn: SocketActor, name: str) -> None:
    """pusher-js subscribes to `#server-to-user-<id>` after sign-in. The socket already
    joined it when it signed in, so this only confirms; anyone else is refused."""
    if conn.user_id is not None and name == server_to_user_channel(conn.user_id):
        conn.send_text(frames.subscription_succeeded(name))
        return
    conn.refuse(name, Err.SUBSCRIPTION_NOT_OWN_USER_CHANNEL)


def unsubscribe(conn: SocketActor, request: Unsubscribe) -> None:
    name = request.channel
    conn.node.dashboard.feed.unsubscribed(conn.app_id, conn.socket_id, name)
    if name in conn.channels:
        del conn.channels[name]
        conn.channel_actors.pop(name, None)
        assert conn.app is not None
        conn.app.tell_inline(LeaveChannel(conn, name))
