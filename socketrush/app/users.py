"""An app's signed-in users on this node and their watchlists (the app actor's, used from its
greenlet only): who is online, and who is told when that changes."""

from __future__ import annotations

from socketrush.app.messages import Connection
from socketrush.protocol import frames
from socketrush.protocol.websocket import text_frame


class SignedInUsers:
    def __init__(self) -> None:
        self._sockets: dict[str, dict[str, Connection]] = {}  # user id -> socket id -> conn
        self._watchers: dict[str, dict[str, Connection]] = {}  # watched id -> watchers

    def __len__(self) -> int:
        return len(self._sockets)

    @property
    def watched_count(self) -> int:
        """Users some socket here watches (read by the census)."""
        return len(self._watchers)

    def sockets_of(self, user_id: str) -> list[Connection]:
        return list(self._sockets.get(user_id, {}).values())

    def sign_in(self, conn: Connection, user_id: str, watchlist: tuple[str, ...]) -> bytes | None:
        """The user's first socket makes it online for its watchers. Returns the frame that
        tells the socket which of its own watchlist are online already (None: none are), for
        the caller to send after its signin_success."""
        first_socket = user_id not in self._sockets
        self._sockets.setdefault(user_id, {})[conn.socket_id] = conn
        for watched in watchlist:
            self._watchers.setdefault(watched, {})[conn.socket_id] = conn
        if first_socket:
            self._tell_watchers(user_id, "online")
        online = [uid for uid in watchlist if uid in self._sockets]
        if not online:
            return None
        return text_frame(frames.watchlist_events([{"name": "online", "user_ids": online}]))

    def disconnected(
        self, conn: Connection, user_id: str | None, watchlist: tuple[str, ...]
    ) -> None:
        """The user's last socket makes it offline for its watchers."""
        for watched in watchlist:
            watchers = self._watchers.get(watched)
            if watchers is not None:
                watchers.pop(conn.socket_id, None)
                if not watchers:
                    del self._watchers[watched]
        if user_id is None:
            return
        sockets = self._sockets.get(user_id)
        if sockets is not None:
            sockets.pop(conn.socket_id, None)
            if not sockets:
                del self._sockets[user_id]
                self._tell_watchers(user_id, "offline")

    def _tell_watchers(self, user_id: str, name: str) -> None:
        watchers = self._watchers.get(user_id)
        if watchers:
            frame = text_frame(frames.watchlist_events([{"name": name, "user_ids": [user_id]}]))
            for conn in watchers.values():
                conn.send_frame(frame)
