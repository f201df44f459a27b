"""Server frames as Pusher clients read them, and parsing of client frames."""

from __future__ import annotations

import json

import orjson
import pytest

from socketrush.protocol import frames


def decoded(frame: bytes) -> tuple[dict, object]:
    """The frame as a dict, plus its double-decoded data (asserting data is a JSON string)."""
    message = json.loads(frame)
    assert isinstance(message["data"], str)
    return message, json.loads(message["data"])


def test_event_frame_keeps_string_data_verbatim() -> None:
    frame = frames.event_frame("my-event", "my-channel", '{"some":"data"}')
    assert json.loads(frame) == {
        "event": "my-event",
        "channel": "my-channel",
        "data": '{"some":"data"}',
    }


def test_event_frame_keeps_non_json_string_data() -> None:
    frame = frames.event_frame("e", "c", "plain text")
    assert json.loads(frame)["data"] == "plain text"


@pytest.mark.parametrize("data", [{"a": 1}, [1, "x"]])
def test_event_frame_encodes_objects_into_a_string(data: object) -> None:
    message, inner = decoded(frames.event_frame("client-x", "private-c", data))
    assert message["event"] == "client-x"
    assert inner == data


def test_event_frame_with_user_id_and_without_channel() -> None:
    frame = frames.event_frame("client-x", "presence-c", "{}", user_id="42")
    assert json.loads(frame) == {
        "event": "client-x",
        "channel": "presence-c",
        "data": "{}",
        "user_id": "42",
    }
    assert json.loads(frames.event_frame("e", None, None)) == {"event": "e", "data": None}


def test_connection_established() -> None:
    message, data = decoded(frames.connection_established("123.456", 120))
    assert message["event"] == "pusher:connection_established"
    assert "channel" not in message
    assert data == {"socket_id": "123.456", "activity_timeout": 120}


@pytest.mark.parametrize(("socket_id", "timeout"), [("123.456", 120), ("1073741823.0", 1)])
def test_connection_established_is_byte_for_byte_the_double_encoding(
    socket_id: str, timeout: int
) -> None:
    data = orjson.dumps({"socket_id": socket_id, "activity_timeout": timeout}).decode()
    expected = orjson.dumps({"event": "pusher:connection_established", "data": data})
    assert frames.connection_established(socket_id, timeout) == expected


def test_ping_and_pong() -> None:
    assert frames.ping() == b'{"event":"pusher:ping","data":"{}"}'
    assert frames.pong() == b'{"event":"pusher:pong","data":"{}"}'


def test_subscription_succeeded_plain_channel() -> None:
    message, data = decoded(frames.subscription_succeeded("private-a"))
    assert message["event"] == "pusher_internal:subscription_succeeded"
    assert message["channel"] == "private-a"
    assert data == {}


def test_subscription_succeeded_presence() -> None:
    presence = {"ids": ["1", "2"], "hash": {"1": {"n": "a"}, "2": None}, "count": 2}
    message, data = decoded(frames.subscription_succeeded("presence-a", presence))
    assert message["channel"] == "presence-a"
    assert data == {"presence": presence}


def test_member_added_and_removed() -> None:
    message, data = decoded(frames.member_added("presence-a", "7", {"name": "Ann"}))
    assert (message["event"], message["channel"]) == ("pusher_internal:member_added", "presence-a")
    assert data == {"user_id": "7", "user_info": {"name": "Ann"}}
    message, data = decoded(frames.member_removed("presence-a", "7"))
    assert (message["event"], message["channel"]) == (
        "pusher_internal:member_removed",
        "presence-a",
    )
    assert data == {"user_id": "7"}


def test_subscription_error() -> None:
    message, data = decoded(frames.subscription_error("private-a", "AuthError", "bad auth", 401))
    assert (message["event"], message["channel"]) == ("pusher:subscription_error", "private-a")
    assert data == {"type": "AuthError", "error": "bad auth", "status": 401}


def test_subscription_count() -> None:
    message, data = decoded(frames.subscription_count("my-channel", 3))
    assert message["event"] == "pusher_internal:subscription_count"
    assert message["channel"] == "my-channel"
    assert data == {"subscription_count": 3}


def test_cache_miss() -> None:
    message, data = decoded(frames.cache_miss("cache-a"))
    assert (message["event"], message["channel"]) == ("pusher:cache_miss", "cache-a")
    assert data == {}


def test_signin_success_keeps_user_data_string() -> None:
    user_data = '{"id":"1","user_info":{"name":"Ann"}}'
    message, data = decoded(frames.signin_success(user_data))
    assert message["event"] == "pusher:signin_success"
    assert data == {"user_data": user_data}


def test_watchlist_events() -> None:
    events = [{"name": "online", "user_ids": ["1", "2"]}]
    message, data = decoded(frames.watchlist_events(events))
    assert message["event"] == "pusher_internal:watchlist_events"
    assert "channel" not in message
    assert data == {"events": events}


def test_encoded_size_of_object_data_is_its_compact_json() -> None:
    assert frames.encoded_size({"a": [1, 2.5, "\u00e9"]}) == len('{"a":[1,2.5,"\u00e9"]}'.encode())
