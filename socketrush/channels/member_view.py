"""Presence across nodes: which subscribers a late member event still changes something for.

Member events travel over pub/sub while a joiner's member list is read from Redis, so an event
may arrive after a list that already reflects it; pusher-js would then fire member_added for a
member it has, or member_removed for one it never saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from socketrush.channels.messages import MemberChange


class MemberView:
    """The member set the member events delivered here add up to (the first subscriber's
    list starts it), and the subscribers whose join list differed from it: `_ahead[uid]`
    were listed uid before its member_added arrived, `_behind[uid]` were not listed a uid
    whose member_removed is still on its way."""

    __slots__ = ("_roster", "_ahead", "_behind")

    def __init__(self) -> None:
        self._roster: set[str] = set()
        self._ahead: dict[str, set[str]] = {}
        self._behind: dict[str, set[str]] = {}

    def listed(self, socket_id: str, listed: Iterable[str], *, first: bool) -> None:
        """Note how a joiner's member list differs from what the member events delivered so
        far add up to. The first subscriber's list is the baseline itself: events still in
        flight when it was read are then already in it."""
        listed = set(listed)
        if first:
            self._roster = listed
            self._ahead.clear()
            self._behind.clear()
            return
        for user_id in listed - self._roster:
            self._ahead.setdefault(user_id, set()).add(socket_id)
        for user_id in self._roster - listed:
            self._behind.setdefault(user_id, set()).add(socket_id)

    def forget(self, socket_id: str) -> None:
        """The subscriber left (or is listed anew)."""
        for differences in (self._ahead, self._behind):
            for user_id in [uid for uid, ids in differences.items() if socket_id in ids]:
                ids = differences[user_id]
                ids.discard(socket_id)
                if not ids:
                    del differences[user_id]

    def recipients(self, change: MemberChange, subscribers: Set[str]) -> Set[str]:
        """Apply `change`; the subscribers (of `subscribers`) whose member list it changes."""
        user_id = change.user_id
        ahead = self._ahead.pop(user_id, set())
        behind = self._behind.pop(user_id, set())
        known = user_id in self._roster
        if change.added:
            self._roster.add(user_id)
            return behind if known else subscribers - ahead
        self._roster.discard(user_id)
        return subscribers - behind if known else ahead
