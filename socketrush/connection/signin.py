"""`pusher:signin`: a connection proves which user it is with user data the app signed.

The user data is bounded like a presence member's (`max_presence_member_size_in_kb`): the
connection keeps it for its lifetime and the app actor keeps the user and its watchlist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from socketrush.app import SignIn as SignedIn
from socketrush.protocol import frames
from socketrush.protocol.client_messages import SignIn
from socketrush.protocol.errors import Err
from socketrush.protocol.signatures import user_auth_valid

if TYPE_CHECKING:
    from socketrush.connection.actor import SocketActor


def sign_in(conn: SocketActor, request: SignIn) -> None:
    assert conn.app is not None
    settings = conn.app.settings
    user_data, auth = request.user_data, request.auth
    if conn.user_id is not None:
        conn.fail(Err.ALREADY_SIGNED_IN)
        return
    limit_kb = settings.max_presence_member_size_in_kb
    if user_data is not None and len(user_data.encode()) > limit_kb * 1024:
        conn.fail(Err.SIGNIN_USER_DATA_TOO_LARGE, f"user_data is larger than {limit_kb} KB")
        return
    if (
        user_data is None
        or auth is None
        or not user_auth_valid(settings.key, settings.secret, conn.socket_id, user_data, auth)
    ):
        conn.fail(Err.SIGNIN_BAD_SIGNATURE)
        return
    try:
        user = orjson.loads(user_data)
    except orjson.JSONDecodeError:
        user = None
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        conn.fail(Err.SIGNIN_BAD_USER_DATA)
        return
    watchlist = user.get("watchlist") or []
    if not isinstance(watchlist, list):
        watchlist = []
    conn.user_id = user_id
    conn.watchlist = tuple(str(uid) for uid in watchlist)
    if conn.signin_timer is not None:
        conn.signin_timer.cancel()
    # Its user's channel sends the signin_success once it holds the socket (see `SignIn`).
    conn.app.tell(SignedIn(conn, user_id, conn.watchlist, frames.signin_success(user_data)))
