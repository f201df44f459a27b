"""JSON text frames of Pusher protocol 7, encoded exactly as Pusher's clients expect them.

Pusher double-encodes the ``data`` of its ``pusher:`` and ``pusher_internal:`` events: ``data``
is a *string* holding JSON. pusher-js accepts either form, but other official clients (Swift,
Java) read ``data`` only as a string, so every builder here follows the documented double
encoding. The one exception, ``pusher:error``, lives in `errors.error_frame`.
"""

from __future__ import annotations

import orjson

from socketrush.protocol.errors import SubscriptionRefusal


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


def _frame(event: str, data: object, channel: str | None = None) -> bytes:
    """An internal event whose `data` is JSON-encoded into a string (double encoding)."""
    frame: dict[str, object] = {"event": event}
    if channel is not None:
        frame["channel"] = channel
    frame["data"] = _json_text(data)
    return orjson.dumps(frame)


def event_frame(
    event: str,
    channel: str | None,
    data: str | dict | list | None,
    user_id: str | None = None,
) -> bytes:
    """A channel event. A string `data` is passed through verbatim (the HTTP API's ``data``
    is already the publisher's encoding); a dict or list is JSON-encoded into a string.

    `user_id` is set only for client events on presence channels, as the protocol says.
    """
    frame: dict[str, object] = {"event": event}
    if channel is not None:
        frame["channel"] = channel
    frame["data"] = data if data is None or isinstance(data, str) else _json_text(data)
    if user_id is not None:
        frame["user_id"] = user_id
    return orjson.dumps(frame)


# What `_frame` encodes for connection_established, with its two values left open.
_ESTABLISHED = (
    b'{"event":"pusher:connection_established",'
    b'"data":"{\\"socket_id\\":\\"%s\\",\\"activity_timeout\\":%d}"}'
)


def connection_established(socket_id: str, activity_timeout: int) -> bytes:
    """Filled into a template: one per connection, and `_frame`'s two encodings and dict
    were two thirds of its instructions (callgrind: 6,500 against 2,300). A socket id is
    digits and a dot (protocol/ids.py), nothing JSON escapes; the result is byte for byte
    `_frame`'s (tests/protocol/test_frames.py)."""
    return _ESTABLISHED % (socket_id.encode(), activity_timeout)


def ping() -> bytes:
    return _frame("pusher:ping", {})


def pong() -> bytes:
    return _frame("pusher:pong", {})


def subscription_succeeded(channel: str, presence: dict | None = None) -> bytes:
    """`presence` is ``{"ids": [...], "hash": {id: info}, "count": n}`` on presence channels;
    other channels get an empty object."""
    data = {"presence": presence} if presence is not None else {}
    return _frame("pusher_internal:subscription_succeeded", data, channel)


def member_added(channel: str, user_id: str, user_info: object) -> bytes:
    return _frame(
        "pusher_internal:member_added", {"user_id": user_id, "user_info": user_info}, channel
    )


def member_removed(channel: str, user_id: str) -> bytes:
    return _frame("pusher_internal:member_removed", {"user_id": user_id}, channel)


def subscription_error(channel: str, error_type: str, error: str, status: int) -> bytes:
    """The same shape pusher-js emits for a failed authorization, so one handler fits both."""
    return _frame(
        "pusher:subscription_error",
        {"type": error_type, "error": error, "status": status},
        channel,
    )


def subscription_refused(
    channel: str, refusal: SubscriptionRefusal, message: str | None = None
) -> bytes:
    """`pusher:subscription_error` for a row of the error table."""
    return subscription_error(channel, refusal.type, message or refusal.message, refusal.status)


def subscription_count(channel: str, count: int) -> bytes:
    return _frame("pusher_internal:subscription_count", {"subscription_count": count}, channel)


def cache_miss(channel: str) -> bytes:
    """Carries an empty object: pusher-websocket-java fails on an event without ``data``."""
    return _frame("pusher:cache_miss", {}, channel)


def signin_success(user_data: str) -> bytes:
    """`user_data` is the exact JSON string the app signed; clients parse it themselves."""
    return _frame("pusher:signin_success", {"user_data": user_data})


def watchlist_events(events: list[dict]) -> bytes:
    """`events` like ``[{"name": "online", "user_ids": ["1", "2"]}]``."""
    return _frame("pusher_internal:watchlist_events", {"events": events})


def encoded_size(data: object) -> int:
    """The size in bytes of ``data`` as relayed: a string's UTF-8 bytes, anything else's
    compact JSON, so payload limits apply whatever form ``data`` was sent in."""
    if data is None:
        return 0
    if isinstance(data, str):
        return len(data.encode())
    return len(orjson.dumps(data))
