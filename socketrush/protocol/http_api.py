"""Pusher HTTP API: request signature checks and validation of bodies and query parameters.

Pure functions: the Flask views pass in what they read from the request. Every failure is an
`ApiError` naming its row of the error table (`protocol/errors.py`), which gives its status;
the views answer it as JSON ``{"error": message}``, the body the official SDKs report.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from socketrush.protocol.channels import classify, validate_channel_name, validate_event_name
from socketrush.protocol.errors import Err, ErrorSpec
from socketrush.protocol.signatures import constant_time_equal, hmac_sha256_hex

AUTH_VERSION = "1.0"
TRIGGER_INFO = frozenset({"subscription_count", "user_count"})
CHANNEL_INFO = frozenset({"subscription_count", "user_count", "cache"})
CHANNELS_INFO = frozenset({"user_count"})
SHOWN_CHARS = 200  # of a client's input quoted back in an error, so errors stay small
_SOCKET_ID_RE = re.compile(r"[0-9]+\.[0-9]+")


class ApiError(Exception):
    """An HTTP API failure: its row of the error table, and optionally a detail that replaces
    the row's message (naming the culprit). The status is always the row's."""

    def __init__(self, spec: ErrorSpec, detail: str | None = None) -> None:
        if spec.http_status is None:
            raise ValueError(f"{spec} has no HTTP status")
        self.spec = spec
        self.status: int = spec.http_status
        self.message = spec.message if detail is None else detail
        super().__init__(self.message)


def error_body(error: ApiError) -> bytes:
    """The JSON body of every error response."""
    return orjson.dumps({"error": error.message})


def _shown(text: str) -> str:
    return text[:SHOWN_CHARS]


def _required(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    if value is None:
        raise ApiError(Err.API_BAD_SIGNATURE, f"Missing {name} query parameter")
    return value


def string_to_sign(method: str, path: str, query: Mapping[str, str]) -> str:
    """Pusher's string to sign: "METHOD\\npath\\nk=v&..." with keys lower-cased and sorted,
    values unescaped, ``auth_signature`` left out."""
    params = sorted((key.lower(), value) for key, value in query.items() if key != "auth_signature")
    return "\n".join((method.upper(), path, "&".join(f"{key}={value}" for key, value in params)))


def verify_signed_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    app_key: str,
    app_secret: str,
    now: float,
    max_skew: int = 600,
) -> None:
    """Raise `ApiError` (401) unless the request carries a valid Pusher signature.

    The timestamp window bounds how long a captured request can be replayed; ``body_md5``
    binds the body to the signature, so it is required whenever there is a body and checked
    whenever it is given (SDKs also send it, for an empty body, on GET).
    """
    key = _required(query, "auth_key")
    timestamp = _required(query, "auth_timestamp")
    version = _required(query, "auth_version")
    signature = _required(query, "auth_signature")
    if not constant_time_equal(key, app_key):
        raise ApiError(Err.API_BAD_SIGNATURE, "auth_key does not match the app's key")
    if version != AUTH_VERSION:
        raise ApiError(Err.API_BAD_SIGNATURE, f"Unsupported auth_version {version[:20]!r}")
    try:
        skew = abs(now - int(timestamp))
    except (ValueError, OverflowError):  # not digits, or too large to compare with `now`
        raise ApiError(Err.API_BAD_TIMESTAMP, "auth_timestamp must be an integer") from None
    if skew > max_skew:
        raise ApiError(
            Err.API_BAD_TIMESTAMP,
            f"Timestamp expired: given timestamp ({_shown(timestamp)}) not within {max_skew}s of "
            f"server time ({int(now)})",
        )
    body_md5 = query.get("body_md5")
    if body_md5 is None and body:
        raise ApiError(
            Err.API_BAD_SIGNATURE, "Missing body_md5 query parameter for a non-empty body"
        )
    if body_md5 is not None and not constant_time_equal(body_md5, hashlib.md5(body).hexdigest()):
        raise ApiError(Err.API_BAD_SIGNATURE, "body_md5 does not match the request body")
    signed = string_to_sign(method, path, query)
    if not constant_time_equal(signature, hmac_sha256_hex(app_secret, signed)):
        # Naming the string to sign (it holds no secret) is what makes a client bug findable.
        raise ApiError(
            Err.API_BAD_SIGNATURE,
            f"Invalid signature: expected the HMAC-SHA256 hex digest of {signed!r} "
            "keyed with the app secret",
        )


class ChannelLimits(Protocol):
    """The app setting every channel name is checked against."""

    max_channel_name_length: int


class TriggerLimits(ChannelLimits, Protocol):
    """The app settings `parse_trigger` and `parse_batch` enforce."""

    max_event_channels_at_once: int
    max_event_name_length: int
    max_event_payload_in_kb: int
    max_event_batch_size: int


@dataclass(frozen=True, slots=True)
class TriggerEvent:
    name: str
    channels: tuple[str, ...]
    data: str
    socket_id: str | None
    info: frozenset[str]


def _bad(message: str) -> ApiError:
    return ApiError(Err.API_BAD_REQUEST, message)


def _name(event: Mapping[str, object], limits: TriggerLimits) -> str:
    name = event.get("name")
    if not isinstance(name, str):
        raise _bad("name is required and must be a string")
    problem = validate_event_name(name, limits.max_event_name_length)
    if problem is Err.EVENT_NAME_TOO_LONG:
        raise ApiError(
            problem, f"Event name is longer than {limits.max_event_name_length} characters"
        )
    if problem is not None:
        raise ApiError(problem)
    return name


def channel_name(name: object, limits: ChannelLimits) -> str:
    """`name` if it is a channel name the app accepts, else the error naming it."""
    if not isinstance(name, str):
        raise _bad("Channel names must be strings")
    problem = validate_channel_name(name, limits.max_channel_name_length)
    if problem is Err.CHANNEL_NAME_TOO_LONG:
        raise ApiError(
            problem, f"Channel name is longer than {limits.max_channel_name_length} characters"
        )
    if problem is not None:
        raise ApiError(problem, f"{problem.message}: {_shown(name)}")
    return name


def _channels(event: Mapping[str, object], limits: TriggerLimits, batch: bool) -> tuple[str, ...]:
    """Batch items name one ``channel``; /events takes ``channels`` or ``channel``, not both.
    Repeated names are published once."""
    if batch:
        if "channel" not in event:
            raise _bad("channel is required")
        return (channel_name(event["channel"], limits),)
    if ("channels" in event) == ("channel" in event):
        raise _bad("Exactly one of channels or channel is required")
    if "channel" in event:
        return (channel_name(event["channel"], limits),)
    names = event["channels"]
    if not isinstance(names, list) or not names:
        raise _bad("channels must be a non-empty array of channel names")
    if len(names) > limits.max_event_channels_at_once:
        raise _bad(
            f"An event can be triggered on at most {limits.max_event_channels_at_once} channels"
        )
    return tuple(dict.fromkeys(channel_name(name, limits) for name in names))


def _data(event: Mapping[str, object], limits: TriggerLimits) -> str:
    """Pusher's ``data`` is a string; a non-string from a lax SDK is JSON-encoded so clients
    still receive a string."""
    if "data" not in event:
        raise _bad("data is required")
    data = event["data"]
    text = data if isinstance(data, str) else orjson.dumps(data).decode()
    limit_kb = limits.max_event_payload_in_kb
    if len(text.encode()) > limit_kb * 1024:
        raise ApiError(Err.PAYLOAD_TOO_LARGE, f"Event data is larger than {limit_kb} KB")
    return text


def _socket_id(event: Mapping[str, object]) -> str | None:
    socket_id = event.get("socket_id")
    if socket_id is None:
        return None
    if not isinstance(socket_id, str) or not _SOCKET_ID_RE.fullmatch(socket_id):
        raise _bad("Invalid socket_id")
    return socket_id


def info_attributes(info: str, supported: frozenset[str]) -> frozenset[str]:
    """The attributes a comma-separated ``info`` asks for; empty parts are ignored."""
    attributes = frozenset(part for part in info.split(",") if part)
    unknown = attributes - supported
    if unknown:
        named = _shown(",".join(sorted(unknown)))
        raise ApiError(Err.API_UNSUPPORTED_INFO, f"Unsupported info attributes: {named}")
    return attributes


def _info(event: Mapping[str, object]) -> frozenset[str]:
    info = event.get("info")
    if info is None:
        return frozenset()
    if not isinstance(info, str):
        raise _bad("info must be a comma-separated string")
    return info_attributes(info, TRIGGER_INFO)


def _event(event: object, limits: TriggerLimits, batch: bool) -> TriggerEvent:
    if not isinstance(event, dict):
        raise _bad("An event must be a JSON object")
    return TriggerEvent(
        name=_name(event, limits),
        channels=_channels(event, limits, batch),
        data=_data(event, limits),
        socket_id=_socket_id(event),
        info=_info(event),
    )


def parse_json(body: bytes) -> object:
    """A request body decoded once; orjson's message says where it stopped making sense."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(Err.INVALID_JSON, f"Body is not valid JSON: {error}") from None


def parse_trigger(body: object, limits: TriggerLimits) -> TriggerEvent:
    """Validate a decoded ``POST /apps/{id}/events`` body."""
    return _event(body, limits, batch=False)


def parse_batch(body: object, limits: TriggerLimits) -> list[TriggerEvent]:
    """Validate a decoded ``POST /apps/{id}/batch_events`` body; the first bad event fails
    the whole batch, so a batch is published entirely or not at all."""
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, list):
        raise _bad("batch is required and must be an array of events")
    if len(batch) > limits.max_event_batch_size:
        raise _bad(f"Batch has {len(batch)} events, at most {limits.max_event_batch_size} allowed")
    events = []
    for index, event in enumerate(batch):
        try:
            events.append(_event(event, limits, batch=True))
        except ApiError as error:
            raise ApiError(error.spec, f"batch[{index}]: {error.message}") from None
    return events


# -- query parameters of the read endpoints --


@dataclass(frozen=True, slots=True)
class ChannelsListing:
    """What ``GET /apps/{id}/channels`` asks for."""

    prefix: str
    with_user_count: bool


def parse_channels_query(query: Mapping[str, str]) -> ChannelsListing:
    """``filter_by_prefix`` and ``info``: only user_count, and only with a presence- prefix
    (Pusher's rule: counting users of a listing that mixes kinds means nothing)."""
    prefix = query.get("filter_by_prefix", "")
    info = info_attributes(query.get("info", ""), CHANNELS_INFO)
    with_user_count = "user_count" in info
    if with_user_count and not prefix.startswith("presence-"):
        raise ApiError(Err.API_USER_COUNT_NEEDS_PRESENCE_PREFIX)
    return ChannelsListing(prefix, with_user_count)


def parse_channel_query(
    channel: str, query: Mapping[str, str], limits: ChannelLimits
) -> frozenset[str]:
    """The ``info`` attributes ``GET /apps/{id}/channels/{channel}`` asks for; user_count only
    for presence channels. ``cache`` of a channel that is not a cache channel is ignored."""
    channel_name(channel, limits)
    info = info_attributes(query.get("info", ""), CHANNEL_INFO)
    if "user_count" in info and not classify(channel).is_presence:
        raise ApiError(Err.API_USER_COUNT_NOT_PRESENCE)
    return info


def check_users_channel(channel: str, limits: ChannelLimits) -> None:
    """Only presence channels have users to list."""
    channel_name(channel, limits)
    if not classify(channel).is_presence:
        raise ApiError(Err.API_USERS_NOT_PRESENCE)


def cached_event_info(cached: bytes, ttl: float, max_ttl: int) -> dict[str, object] | None:
    """The ``cache`` attribute of a channel's info: the last event's name and data and whole
    seconds it has left, or None if the stored bytes are not an event (written by something
    else sharing the cache). A key without an expiry reads as `max_ttl`, the longest a cache
    channel keeps an event."""
    try:
        event = orjson.loads(cached)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    return {"event": event.get("event"), "data": event.get("data"), "ttl": int(min(ttl, max_ttl))}
