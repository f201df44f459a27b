"""HTTP API signing (Pusher's worked example and the official SDK), trigger validation, the
read endpoints' query parameters, and errors as rows of the error table."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from pusher.http import Request
from pusher.pusher_client import PusherClient

from socketrush.protocol.errors import Err
from socketrush.protocol.http_api import (
    ApiError,
    ChannelsListing,
    TriggerEvent,
    cached_event_info,
    check_users_channel,
    error_body,
    parse_batch,
    parse_channel_query,
    parse_channels_query,
    parse_json,
    parse_trigger,
    string_to_sign,
    verify_signed_request,
)

# Pusher's "Worked authentication example" (HTTP API reference).
KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
GOLDEN_QUERY = {
    "auth_key": KEY,
    "auth_timestamp": "1353088179",
    "auth_version": "1.0",
    "body_md5": "ec365a775a4cd0599faeb73354201b6f",
    "auth_signature": "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
}
GOLDEN_NOW = 1353088179.0


def verify(
    query: dict[str, str],
    *,
    method: str = "POST",
    path: str = "/apps/3/events",
    body: bytes = BODY,
    now: float = GOLDEN_NOW,
) -> None:
    verify_signed_request(method, path, query, body, KEY, SECRET, now)


def rejected(**kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        verify(**kwargs)
    return caught.value


def test_golden_body_md5_and_string_to_sign() -> None:
    assert hashlib.md5(BODY).hexdigest() == GOLDEN_QUERY["body_md5"]
    assert string_to_sign("post", "/apps/3/events", GOLDEN_QUERY) == (
        "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179"
        "&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
    )


def test_golden_request_is_accepted() -> None:
    verify(GOLDEN_QUERY)


def test_string_to_sign_lowercases_and_sorts_keys_without_escaping() -> None:
    query = {"Name": "Something else", "auth_key": "foo", "auth_signature": "x"}
    assert string_to_sign("GET", "/p", query) == "GET\n/p\nauth_key=foo&name=Something else"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"auth_signature": "0" * 64}, "Invalid signature"),
        ({"auth_key": "otherkey"}, "auth_key does not match"),
        ({"auth_version": "2.0"}, "Unsupported auth_version"),
        ({"auth_timestamp": "soon"}, "auth_timestamp must be an integer"),
        ({"auth_timestamp": "9" * 400}, "auth_timestamp must be an integer"),
        ({"body_md5": "0" * 32}, "body_md5 does not match"),
    ],
)
def test_tampered_golden_request_is_rejected(change: dict[str, str], message: str) -> None:
    error = rejected(query={**GOLDEN_QUERY, **change})
    assert error.status == 401
    assert message in error.message


@pytest.mark.parametrize(
    "missing", ["auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5"]
)
def test_missing_parameter_is_rejected(missing: str) -> None:
    query = {key: value for key, value in GOLDEN_QUERY.items() if key != missing}
    error = rejected(query=query)
    assert error.status == 401
    assert f"Missing {missing}" in error.message


def test_tampered_body_and_path_are_rejected() -> None:
    assert "body_md5" in rejected(query=GOLDEN_QUERY, body=BODY + b" ").message
    assert "Invalid signature" in rejected(query=GOLDEN_QUERY, path="/apps/4/events").message
    assert "Invalid signature" in rejected(query=GOLDEN_QUERY, method="GET").message


def test_timestamp_window_is_600_seconds_both_ways() -> None:
    verify(GOLDEN_QUERY, now=GOLDEN_NOW + 600)
    verify(GOLDEN_QUERY, now=GOLDEN_NOW - 600)
    late = rejected(query=GOLDEN_QUERY, now=GOLDEN_NOW + 601)
    early = rejected(query=GOLDEN_QUERY, now=GOLDEN_NOW - 601)
    assert (late.status, early.status) == (401, 401)
    assert late.message == (
        "Timestamp expired: given timestamp (1353088179) not within 600s of "
        "server time (1353088780)"
    )


def test_custom_max_skew() -> None:
    with pytest.raises(ApiError):
        verify_signed_request(
            "POST", "/apps/3/events", GOLDEN_QUERY, BODY, KEY, SECRET, GOLDEN_NOW + 61, 60
        )


# -- requests signed by the official `pusher` SDK --

SDK = PusherClient(app_id="3", key=KEY, secret=SECRET)


def sdk_verify(request: Request, **overrides: object) -> None:
    args: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query_params),
        "body": request.body,
        "now": time.time(),
    }
    args.update(overrides)
    verify_signed_request(
        args["method"], args["path"], args["query"], args["body"], KEY, SECRET, args["now"]
    )


def test_sdk_trigger_is_accepted_and_tampering_rejected() -> None:
    request = SDK.trigger.make_request(["a", "b"], "ev", {"x": 1}, socket_id="1.2")
    sdk_verify(request)
    with pytest.raises(ApiError, match="body_md5"):
        sdk_verify(request, body=request.body.replace(b'"ev"', b'"ew"'))
    with pytest.raises(ApiError, match="Invalid signature"):
        sdk_verify(request, path="/apps/4/events")
    with pytest.raises(ApiError, match="Timestamp expired"):
        sdk_verify(request, now=time.time() + 3600)
    signed_at = int(request.query_params["auth_timestamp"])
    query = {**request.query_params, "auth_timestamp": str(signed_at + 1)}
    with pytest.raises(ApiError, match="Invalid signature"):
        sdk_verify(request, query=query)


def test_sdk_batch_and_get_requests_are_accepted() -> None:
    sdk_verify(SDK.trigger_batch.make_request([{"channel": "a", "name": "e", "data": "x"}]))
    get = SDK.channels_info.make_request(prefix_filter="presence-", attributes=["user_count"])
    sdk_verify(get)
    query = {**get.query_params, "info": "subscription_count"}
    with pytest.raises(ApiError, match="Invalid signature"):
        sdk_verify(get, query=query)


# -- trigger bodies --


@dataclass(frozen=True)
class Limits:
    max_event_channels_at_once: int = 3
    max_event_name_length: int = 10
    max_event_payload_in_kb: int = 1
    max_event_batch_size: int = 2
    max_channel_name_length: int = 20


LIMITS = Limits()


def bad(body: object, batch: bool = False) -> ApiError:
    with pytest.raises(ApiError) as caught:
        (parse_batch if batch else parse_trigger)(body, LIMITS)
    return caught.value


def test_parse_trigger_full() -> None:
    body = {
        "name": "ev",
        "channels": ["a", "b", "a"],
        "data": '{"x":1}',
        "socket_id": "12.34",
        "info": "user_count,subscription_count",
    }
    assert parse_trigger(body, LIMITS) == TriggerEvent(
        name="ev",
        channels=("a", "b"),
        data='{"x":1}',
        socket_id="12.34",
        info=frozenset({"user_count", "subscription_count"}),
    )


def test_parse_trigger_single_channel_and_defaults() -> None:
    assert parse_trigger({"name": "ev", "channel": "#server-to-user-7", "data": ""}, LIMITS) == (
        TriggerEvent("ev", ("#server-to-user-7",), "", None, frozenset())
    )


def test_parse_trigger_encodes_non_string_data() -> None:
    body = {"name": "ev", "channel": "a", "data": {"x": [1, 2]}}
    assert parse_trigger(body, LIMITS).data == '{"x":[1,2]}'
    assert parse_trigger({**body, "data": None}, LIMITS).data == "null"


def test_parse_trigger_accepts_the_sdk_body() -> None:
    request = SDK.trigger.make_request(["a", "b"], "ev", {"x": 1}, socket_id="1.2")
    event = parse_trigger(orjson.loads(request.body), LIMITS)
    assert event == TriggerEvent("ev", ("a", "b"), '{"x": 1}', "1.2", frozenset())


def test_payload_limit_is_inclusive_and_in_bytes() -> None:
    body = {"name": "ev", "channel": "a", "data": "x" * 1024}
    assert parse_trigger(body, LIMITS).data == "x" * 1024
    error = bad({**body, "data": "é" * 513})
    assert (error.status, error.message) == (413, "Event data is larger than 1 KB")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "An event must be a JSON object"),
        ({"channel": "a", "data": "x"}, "name is required and must be a string"),
        ({"name": 5, "channel": "a", "data": "x"}, "name is required and must be a string"),
        ({"name": "", "channel": "a", "data": "x"}, "Invalid event name"),
        (
            {"name": "e" * 11, "channel": "a", "data": "x"},
            "Event name is longer than 10 characters",
        ),
        ({"name": "ev", "data": "x"}, "Exactly one of channels or channel is required"),
        (
            {"name": "ev", "channel": "a", "channels": ["b"], "data": "x"},
            "Exactly one of channels or channel is required",
        ),
        ({"name": "ev", "channels": [], "data": "x"}, "channels must be a non-empty array"),
        ({"name": "ev", "channels": "a", "data": "x"}, "channels must be a non-empty array"),
        (
            {"name": "ev", "channels": ["a", "b", "c", "d"], "data": "x"},
            "An event can be triggered on at most 3 channels",
        ),
        ({"name": "ev", "channels": ["a", 1], "data": "x"}, "Channel names must be strings"),
        ({"name": "ev", "channel": "a b", "data": "x"}, "Invalid channel name: a b"),
        (
            {"name": "ev", "channel": "c" * 21, "data": "x"},
            "Channel name is longer than 20 characters",
        ),
        ({"name": "ev", "channel": "a"}, "data is required"),
        ({"name": "ev", "channel": "a", "data": "x", "socket_id": "12"}, "Invalid socket_id"),
        ({"name": "ev", "channel": "a", "data": "x", "socket_id": 1.2}, "Invalid socket_id"),
        ({"name": "ev", "channel": "a", "data": "x", "socket_id": "1.2\n"}, "Invalid socket_id"),
        (
            {"name": "ev", "channel": "a", "data": "x", "info": "user_count,cache"},
            "Unsupported info attributes: cache",
        ),
        (
            {"name": "ev", "channel": "a", "data": "x", "info": ["user_count"]},
            "info must be a comma-separated string",
        ),
    ],
)
def test_parse_trigger_rejects(body: object, message: str) -> None:
    error = bad(body)
    assert error.status == 400
    assert error.message.startswith(message)


def test_parse_batch() -> None:
    body = {
        "batch": [
            {"name": "a", "channel": "x", "data": "1", "info": "subscription_count"},
            {"name": "b", "channel": "presence-y", "data": {"k": 1}, "socket_id": "1.2"},
        ]
    }
    assert parse_batch(body, LIMITS) == [
        TriggerEvent("a", ("x",), "1", None, frozenset({"subscription_count"})),
        TriggerEvent("b", ("presence-y",), '{"k":1}', "1.2", frozenset()),
    ]
    assert parse_batch({"batch": []}, LIMITS) == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ([], 400, "batch is required and must be an array of events"),
        ({"batch": {}}, 400, "batch is required and must be an array of events"),
        ({"batch": [{}, {}, {}]}, 400, "Batch has 3 events, at most 2 allowed"),
        ({"batch": [{"name": "a", "data": "1"}]}, 400, "batch[0]: channel is required"),
        (
            {"batch": [{"name": "a", "channel": "x", "data": "1"}, {"name": "b", "channel": "?"}]},
            400,
            "batch[1]: Invalid channel name: ?",
        ),
        (
            {"batch": [{"name": "a", "channels": ["x"], "data": "1"}]},
            400,
            "batch[0]: channel is required",
        ),
        (
            {"batch": [{"name": "a", "channel": "x", "data": "x" * 1025}]},
            413,
            "batch[0]: Event data is larger than 1 KB",
        ),
    ],
)
def test_parse_batch_rejects(body: object, status: int, message: str) -> None:
    error = bad(body, batch=True)
    assert (error.status, error.message) == (status, message)


def test_batch_error_keeps_the_row_of_the_event_that_failed() -> None:
    error = bad({"batch": [{"name": "", "channel": "x", "data": "1"}]}, batch=True)
    assert (error.spec, error.message) == (Err.INVALID_EVENT_NAME, "batch[0]: Invalid event name")


def test_socket_id_digits_are_ascii_only() -> None:
    """`\\d` would also take Arabic-Indic digits, which no socket id ever has."""
    error = bad({"name": "ev", "channel": "a", "data": "x", "socket_id": "\u0661.\u0662"})
    assert error.message == "Invalid socket_id"


def test_unsupported_info_is_quoted_back_bounded() -> None:
    error = bad({"name": "ev", "channel": "a", "data": "x", "info": "z" * 10_000})
    assert (error.spec, error.message) == (
        Err.API_UNSUPPORTED_INFO,
        "Unsupported info attributes: " + "z" * 200,
    )


# -- errors are rows of the table --


def test_api_error_takes_status_and_message_from_its_row() -> None:
    error = ApiError(Err.API_RATE_LIMITED)
    assert (error.status, error.message, str(error)) == (429, "Rate limit exceeded", error.message)
    detailed = ApiError(Err.API_APP_NOT_FOUND, "Unknown app id 7")
    assert (detailed.status, detailed.message) == (404, "Unknown app id 7")


def test_api_error_refuses_a_row_without_http_status() -> None:
    with pytest.raises(ValueError, match="no HTTP status"):
        ApiError(Err.UNKNOWN_EVENT)


def test_every_api_row_has_a_status_and_no_websocket_code() -> None:
    rows = [spec for name, spec in vars(Err).items() if name.startswith("API_")]
    assert rows
    assert all(spec.http_status and spec.code is None and not spec.closes for spec in rows)


def test_error_body_is_the_json_the_sdks_report() -> None:
    assert error_body(ApiError(Err.API_APP_DISABLED)) == b'{"error":"App is disabled"}'


def test_parse_json() -> None:
    assert parse_json(b'{"a":[1]}') == {"a": [1]}
    for body in (b"", b"{", b"\xff", b"[" * 2000 + b"]" * 2000):
        with pytest.raises(ApiError) as caught:
            parse_json(body)
        assert caught.value.spec is Err.INVALID_JSON
        assert caught.value.message.startswith("Body is not valid JSON: ")


# -- query parameters of GET /channels, /channels/{name} and /channels/{name}/users --


def query_error(check: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        check(*args)
    return caught.value


def test_parse_channels_query() -> None:
    assert parse_channels_query({}) == ChannelsListing("", False)
    assert parse_channels_query({"filter_by_prefix": "x-", "info": ""}) == ChannelsListing(
        "x-", False
    )
    assert parse_channels_query(
        {"filter_by_prefix": "presence-room-", "info": "user_count,"}
    ) == ChannelsListing("presence-room-", True)


@pytest.mark.parametrize(
    ("query", "spec", "message"),
    [
        ({"info": "user_count"}, Err.API_USER_COUNT_NEEDS_PRESENCE_PREFIX, None),
        (
            {"filter_by_prefix": "private-", "info": "user_count"},
            Err.API_USER_COUNT_NEEDS_PRESENCE_PREFIX,
            None,
        ),
        (
            {"filter_by_prefix": "presence-", "info": "subscription_count,user_count"},
            Err.API_UNSUPPORTED_INFO,
            "Unsupported info attributes: subscription_count",
        ),
    ],
)
def test_parse_channels_query_rejects(
    query: dict[str, str], spec: Any, message: str | None
) -> None:
    error = query_error(parse_channels_query, query)
    assert (error.spec, error.status, error.message) == (spec, 400, message or spec.message)


def test_parse_channel_query() -> None:
    assert parse_channel_query("presence-a", {"info": "user_count,subscription_count"}, LIMITS) == (
        frozenset({"user_count", "subscription_count"})
    )
    assert parse_channel_query("cache-a", {"info": "cache"}, LIMITS) == frozenset({"cache"})
    assert parse_channel_query("public", {}, LIMITS) == frozenset()


@pytest.mark.parametrize(
    ("channel", "info", "spec", "message"),
    [
        ("public", "user_count", Err.API_USER_COUNT_NOT_PRESENCE, None),
        ("public", "members", Err.API_UNSUPPORTED_INFO, "Unsupported info attributes: members"),
        ("a b", "", Err.INVALID_CHANNEL_NAME, "Invalid channel name: a b"),
        ("c" * 21, "", Err.CHANNEL_NAME_TOO_LONG, "Channel name is longer than 20 characters"),
    ],
)
def test_parse_channel_query_rejects(
    channel: str, info: str, spec: Any, message: str | None
) -> None:
    error = query_error(parse_channel_query, channel, {"info": info}, LIMITS)
    assert (error.spec, error.status, error.message) == (spec, 400, message or spec.message)


def test_check_users_channel() -> None:
    check_users_channel("presence-room", LIMITS)
    for channel, spec in [
        ("private-room", Err.API_USERS_NOT_PRESENCE),
        ("room", Err.API_USERS_NOT_PRESENCE),
        ("presence-a b", Err.INVALID_CHANNEL_NAME),
    ]:
        assert query_error(check_users_channel, channel, LIMITS).spec is spec


# -- the cache attribute of a channel's info --


def test_cached_event_info() -> None:
    frame = b'{"event":"tick","channel":"cache-a","data":"{\\"n\\":1}"}'
    assert cached_event_info(frame, 1799.7, 1800) == {
        "event": "tick",
        "data": '{"n":1}',
        "ttl": 1799,
    }


def test_cached_event_without_expiry_reads_as_the_longest_ttl() -> None:
    assert cached_event_info(b'{"event":"e","data":"d"}', float("inf"), 1800) == {
        "event": "e",
        "data": "d",
        "ttl": 1800,
    }


@pytest.mark.parametrize("cached", [b"not json", b"[1,2]", b"\xff", b""])
def test_unreadable_cached_event_is_a_miss(cached: bytes) -> None:
    assert cached_event_info(cached, 10, 1800) is None
