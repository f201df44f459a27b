"""A presence channel's members on this node, and which of its sockets each member has."""

from __future__ import annotations

from collections.abc import Iterator

from socketrush.channels.messages import Member


class PresenceRoster:
    """A user is a member while at least one of its sockets here is subscribed: the first
    socket makes it a member (member_added), the last one to leave ends that (member_removed).
    Only presence channels have one."""

    __slots__ = ("_members", "_sockets", "_user_of")

    def __init__(self) -> None:
        self._members: dict[str, Member] = {}  # user id -> member
        self._sockets: dict[str, set[str]] = {}  # user id -> its socket ids
        self._user_of: dict[str, str] = {}  # socket id -> user id

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, user_id: str) -> bool:
        return user_id in self._members

    def __iter__(self) -> Iterator[str]:
        """The user ids: a member list."""
        return iter(self._members)

    def user_ids(self) -> list[str]:
        return list(self._members)

    def info(self) -> dict[str, object]:
        """User id -> user_info: the member list a joiner is sent."""
        return {uid: member.user_info for uid, member in self._members.items()}

    def member_of(self, socket_id: str) -> Member | None:
        """The member a subscribed socket joined as."""
        user_id = self._user_of.get(socket_id)
        return None if user_id is None else self._members[user_id]

    def add(self, socket_id: str, member: Member) -> bool:
        """Count `socket_id` as one of `member`'s sockets; True if that made it a member (a
        user keeps the info its first socket gave)."""
        user_id = member.user_id
        new = user_id not in self._members
        if new:
            self._members[user_id] = member
            self._sockets[user_id] = set()
        self._sockets[user_id].add(socket_id)
        self._user_of[socket_id] = user_id
        return new

    def remove(self, socket_id: str) -> str | None:
        """Forget `socket_id`; the user id if it was that member's last socket here."""
        user_id = self._user_of.pop(socket_id, None)
        if user_id is None:
            return None
        sockets = self._sockets[user_id]
        sockets.discard(socket_id)
        if sockets:
            return None
        del self._sockets[user_id]
        del self._members[user_id]
        return user_id
