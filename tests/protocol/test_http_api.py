"""HTTP API signing (Pusher's worked example and the official SDK) and trigger validation."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from pusher.http import Request
from pusher.pusher_client import PusherClient

from socketrush.protocol.http_api import (
    ApiError,
    TriggerEvent,
    parse_batch,
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
