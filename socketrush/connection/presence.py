"""A presence channel's member, as the client's signed `channel_data` describes it."""

from __future__ import annotations

import orjson

from socketrush.channels import Member
from socketrush.protocol.errors import Err, SubscriptionRefusal


def presence_member(
    channel_data: str, limit_kb: int
) -> Member | tuple[SubscriptionRefusal, str | None]:
    """The member, or the refusal (and its message) for channel_data over `limit_kb` or
    without a user id. A numeric user id is taken as its string, as Pusher does."""
    if len(channel_data.encode()) > limit_kb * 1024:
        return (
            Err.SUBSCRIPTION_MEMBER_TOO_LARGE,
            f"Presence member data is larger than {limit_kb} KB",
        )
    try:
        parsed = orjson.loads(channel_data)
    except orjson.JSONDecodeError:
        parsed = None
    user_id = parsed.get("user_id") if isinstance(parsed, dict) else None
    if isinstance(user_id, int | float) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not user_id:
        return Err.SUBSCRIPTION_BAD_CHANNEL_DATA, None
    return Member(user_id, parsed.get("user_info"))
