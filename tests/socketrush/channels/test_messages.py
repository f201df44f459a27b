"""Values a channel is told: member events are recognised by their payload alone."""

from __future__ import annotations

from socketrush.channels import member_change
from socketrush.protocol import frames

ROOM = "presence-room"


def test_member_change_recognises_only_member_events() -> None:
    assert member_change(frames.member_removed(ROOM, "u")).user_id == "u"
    assert member_change(frames.member_added(ROOM, "u", {"a": 1})).added is True
    assert member_change(frames.member_removed(ROOM, "u")).added is False
    assert member_change(frames.event_frame("member_added", ROOM, "{}")) is None
