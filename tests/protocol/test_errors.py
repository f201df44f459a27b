"""The error table: Pusher's documented codes and how each error frame is encoded."""

from __future__ import annotations

import orjson
import pytest

from socketrush.protocol.errors import Err, ErrorSpec, close_code_label, error_frame

SPECS = {name: value for name, value in vars(Err).items() if isinstance(value, ErrorSpec)}

# Code, and whether the connection is closed, for every row (Pusher's protocol 7 list where
# documented; null and open where Pusher sends code null).
EXPECTED = {
    "APP_NOT_FOUND": (4001, True),
    "APP_DISABLED": (4003, True),
    "OVER_CONNECTION_QUOTA": (4004, True),
    "PATH_NOT_FOUND": (4005, True),
    "INVALID_VERSION": (4006, True),
    "UNSUPPORTED_PROTOCOL": (4007, True),
    "NO_PROTOCOL": (4008, True),
    "UNAUTHORIZED_CONNECTION": (4009, True),
    "SIGNIN_BAD_SIGNATURE": (4009, True),
    "SIGNIN_BAD_USER_DATA": (4009, True),
    "SIGNIN_USER_DATA_TOO_LARGE": (4009, True),
    "OVER_CAPACITY": (4100, True),
    "SERVER_DRAINING": (4100, True),
    "APP_MANAGER_UNAVAILABLE": (4100, True),
    "SLOW_CONSUMER": (4100, True),
    "SERVER_SHUTTING_DOWN": (4200, True),
    "CHANNEL_RESTARTED": (4200, True),
    "APP_RESTARTED": (4200, True),
    "PONG_NOT_RECEIVED": (4201, True),
    "CLOSED_AFTER_INACTIVITY": (4202, True),
    "PROTOCOL_ERROR": (None, True),
    "INVALID_UTF8": (None, True),
    "MESSAGE_TOO_BIG": (None, True),
    "FRAME_TIMEOUT": (None, True),
    "CLIENT_EVENT_RATE_LIMIT": (4301, False),
    "INVALID_JSON": (None, False),
    "INVALID_FRAME": (None, False),
    "UNKNOWN_EVENT": (None, False),
    "BINARY_NOT_SUPPORTED": (None, False),
    "INVALID_CHANNEL_NAME": (None, False),
    "CHANNEL_NAME_TOO_LONG": (None, False),
    "INVALID_EVENT_NAME": (None, False),
    "EVENT_NAME_TOO_LONG": (None, False),
    "PAYLOAD_TOO_LARGE": (None, False),
    "CLIENT_EVENTS_DISABLED": (None, False),
    "CLIENT_EVENT_NOT_ALLOWED": (None, False),
    "CLIENT_EVENT_NOT_SUBSCRIBED": (None, False),
    "ALREADY_SIGNED_IN": (None, False),
    "API_BAD_REQUEST": (None, False),
    "API_HEADERS_TOO_LARGE": (None, False),
    "API_REQUEST_LINE_TOO_LONG": (None, False),
    "API_UNSUPPORTED_INFO": (None, False),
    "API_USER_COUNT_NEEDS_PRESENCE_PREFIX": (None, False),
    "API_USER_COUNT_NOT_PRESENCE": (None, False),
    "API_USERS_NOT_PRESENCE": (None, False),
    "API_UPGRADE_REQUIRED": (None, False),
    "API_BAD_SIGNATURE": (None, False),
    "API_BAD_TIMESTAMP": (None, False),
    "API_DASHBOARD_UNAUTHORIZED": (None, False),
    "API_DASHBOARD_PRIVATE_ONLY": (None, False),
    "API_DASHBOARD_DEBUG_CHANNEL_ONLY": (None, False),
    "API_UNSUPPORTED_MEDIA_TYPE": (None, False),
    "API_APP_DISABLED": (None, False),
    "API_APP_NOT_FOUND": (None, False),
    "API_NOT_FOUND": (None, False),
    "API_METHOD_NOT_ALLOWED": (None, False),
    "API_BODY_TIMEOUT": (None, False),
    "API_BODY_TOO_LARGE": (None, False),
    "API_RATE_LIMITED": (None, False),
    "API_APP_OVERLOADED": (None, False),
    "API_INTERNAL_ERROR": (None, False),
    "API_UNAVAILABLE": (None, False),
}

HTTP_STATUS = {
    "SERVER_DRAINING": 503,
    "APP_MANAGER_UNAVAILABLE": 503,
    "INVALID_JSON": 400,
    "INVALID_CHANNEL_NAME": 400,
    "CHANNEL_NAME_TOO_LONG": 400,
    "INVALID_EVENT_NAME": 400,
    "EVENT_NAME_TOO_LONG": 400,
    "PAYLOAD_TOO_LARGE": 413,
    "API_BAD_REQUEST": 400,
    "API_HEADERS_TOO_LARGE": 400,
    "API_REQUEST_LINE_TOO_LONG": 414,
    "API_UNSUPPORTED_INFO": 400,
    "API_USER_COUNT_NEEDS_PRESENCE_PREFIX": 400,
    "API_USER_COUNT_NOT_PRESENCE": 400,
    "API_USERS_NOT_PRESENCE": 400,
    "API_UPGRADE_REQUIRED": 400,
    "API_BAD_SIGNATURE": 401,
    "API_BAD_TIMESTAMP": 401,
    "API_DASHBOARD_UNAUTHORIZED": 401,
    "API_DASHBOARD_PRIVATE_ONLY": 403,
    "API_DASHBOARD_DEBUG_CHANNEL_ONLY": 403,
    "API_UNSUPPORTED_MEDIA_TYPE": 415,
    "API_APP_DISABLED": 403,
    "API_APP_NOT_FOUND": 404,
    "API_NOT_FOUND": 404,
    "API_METHOD_NOT_ALLOWED": 405,
    "API_BODY_TIMEOUT": 408,
    "API_BODY_TOO_LARGE": 413,
    "API_RATE_LIMITED": 429,
    "API_APP_OVERLOADED": 429,
    "API_INTERNAL_ERROR": 500,
    "API_UNAVAILABLE": 503,
}


def test_table_has_exactly_the_expected_rows() -> None:
    assert set(SPECS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_code_and_closing(name: str) -> None:
    spec = SPECS[name]
    assert (spec.code, spec.closes) == EXPECTED[name]
    assert spec.message


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_http_status(name: str) -> None:
    assert SPECS[name].http_status == HTTP_STATUS.get(name)


# The WebSocket close code of every closing row: its Pusher code, or RFC 6455's for failures
# of the WebSocket protocol itself.
RFC_6455_CLOSE_CODES = {
    "PROTOCOL_ERROR": 1002,
    "FRAME_TIMEOUT": 1008,
    "INVALID_UTF8": 1007,
    "MESSAGE_TOO_BIG": 1009,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_close_code_comes_from_the_row(name: str) -> None:
    spec = SPECS[name]
    if not spec.closes:
        assert spec.close_code is None
    elif name in RFC_6455_CLOSE_CODES:
        assert (spec.code, spec.close_code) == (None, RFC_6455_CLOSE_CODES[name])
        assert not spec.tells_client  # only the close frame goes out
    else:
        assert spec.close_code == spec.code
        assert spec.code is not None and 4000 <= spec.code < 4300
        assert spec.tells_client


def test_a_row_that_closes_needs_a_close_code_and_one_that_does_not_has_none() -> None:
    with pytest.raises(ValueError, match="needs a code or close_code"):
        ErrorSpec(None, "closes without a code", True)
    with pytest.raises(ValueError, match="does not close"):
        ErrorSpec(None, "stays open", False, close_code=1002)
    assert ErrorSpec(None, "framing", True, close_code=1002).close_code == 1002
    assert ErrorSpec(4001, "pusher", True).close_code == 4001


def test_documented_messages() -> None:
    assert Err.APP_NOT_FOUND.message == "Application does not exist"
    assert Err.OVER_CONNECTION_QUOTA.message == "Application is over connection quota"
    assert Err.CLIENT_EVENT_RATE_LIMIT.message == "Client event rejected due to rate limit"
    assert Err.CLIENT_EVENT_NOT_ALLOWED.message == (
        "Client event rejected - only supported on private and presence channels"
    )
    assert "outbound backlog" in Err.SLOW_CONSUMER.message


def test_error_frame_uses_table_message_and_object_data() -> None:
    frame = orjson.loads(error_frame(Err.APP_NOT_FOUND))
    assert frame == {
        "event": "pusher:error",
        "data": {"code": 4001, "message": "Application does not exist"},
    }


def test_error_frame_with_null_code_and_custom_message() -> None:
    frame = orjson.loads(error_frame(Err.UNKNOWN_EVENT, "Unknown event: pusher:nope"))
    assert frame == {
        "event": "pusher:error",
        "data": {"code": None, "message": "Unknown event: pusher:nope"},
    }


def test_error_frame_exact_bytes() -> None:
    assert error_frame(Err.CLIENT_EVENT_RATE_LIMIT) == (
        b'{"event":"pusher:error","data":{"code":4301,'
        b'"message":"Client event rejected due to rate limit"}}'
    )


def test_subscription_refusals_render_as_pusher_subscription_error() -> None:
    import json

    from socketrush.protocol import frames

    frame = json.loads(frames.subscription_refused("presence-x", Err.SUBSCRIPTION_PRESENCE_FULL))
    assert frame["event"] == "pusher:subscription_error"
    assert frame["channel"] == "presence-x"
    assert json.loads(frame["data"]) == {
        "type": "LimitReached",
        "error": "The maximum number of members in this presence channel has been reached",
        "status": 4100,
    }
    custom = json.loads(frames.subscription_refused("private-x", Err.SUBSCRIPTION_BAD_AUTH, "why"))
    assert json.loads(custom["data"]) == {"type": "AuthError", "error": "why", "status": 401}


def test_close_codes_are_labelled_as_themselves_only_when_known() -> None:
    """A client may close with any of 3000-4999 and the server echoes it; each counted as
    itself would be a metric series of its own."""
    known = [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1015]
    ours = [4001, 4003, 4009, 4100, 4200, 4201, 4202]
    assert [close_code_label(code) for code in known + ours] == [str(c) for c in known + ours]
    unknown = [1004, 1016, 2999, 3000, 3999, 4000, 4002, 4099, 4301, 4999]
    assert {close_code_label(code) for code in unknown} == {"other"}
