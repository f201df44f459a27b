"""Pusher HTTP API: request signature checks and validation of trigger bodies.

Pure functions: the Flask views pass in what they read from the request and turn `ApiError`
into a JSON response ``{"error": message}`` with `status`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from socketrush.protocol.channels import validate_channel_name, validate_event_name
from socketrush.protocol.errors import Err, ErrorSpec
from socketrush.protocol.signatures import constant_time_equal, hmac_sha256_hex

AUTH_VERSION = "1.0"
INFO_ATTRIBUTES = frozenset({"subscription_count", "user_count"})
_SOCKET_ID_RE = re.compile(r"\d+\.\d+")


class ApiError(Exception):
    """An HTTP API failure with the status and message the client receives."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _fail(spec: ErrorSpec, message: str) -> ApiError:
    assert spec.http_status is not None, spec
    return ApiError(spec.http_status, message)


def _required(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    if value is None:
        raise _fail(Err.API_BAD_SIGNATURE, f"Missing {name} query parameter")
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
        raise _fail(Err.API_BAD_SIGNATURE, "auth_key does not match the app's key")
    if version != AUTH_VERSION:
        raise _fail(Err.API_BAD_SIGNATURE, f"Unsupported auth_version {version[:20]!r}")
    try:
        skew = abs(now - int(timestamp))
    except (ValueError, OverflowError):  # not digits, or too large to compare with `now`
        raise _fail(Err.API_BAD_TIMESTAMP, "auth_timestamp must be an integer") from None
    if skew > max_skew:
        raise _fail(
            Err.API_BAD_TIMESTAMP,
            f"Timestamp expired: given timestamp ({timestamp}) not within {max_skew}s of "
            f"server time ({int(now)})",
        )
    body_md5 = query.get("body_md5")
    if body_md5 is None and body:
        raise _fail(Err.API_BAD_SIGNATURE, "Missing body_md5 query parameter for a non-empty body")
    if body_md5 is not None and not constant_time_equal(body_md5, hashlib.md5(body).hexdigest()):
        raise _fail(Err.API_BAD_SIGNATURE, "body_md5 does not match the request body")
    signed = string_to_sign(method, path, query)
    if not constant_time_equal(signature, hmac_sha256_hex(app_secret, signed)):
        # Naming the string to sign (it holds no secret) is what makes a client bug findable.
        raise _fail(
            Err.API_BAD_SIGNATURE,
            f"Invalid signature: expected the HMAC-SHA256 hex digest of {signed!r} "
            "keyed with the app secret",
        )


class TriggerLimits(Protocol):
    """The app settings `parse_trigger` and `parse_batch` enforce."""

    max_event_channels_at_once: int
    max_event_name_length: int
    max_event_payload_in_kb: int
    max_event_batch_size: int
    max_channel_name_length: int


@dataclass(frozen=True, slots=True)
class TriggerEvent:
    name: str
    channels: tuple[str, ...]
    data: str
    socket_id: str | None
    info: frozenset[str]


def _bad(message: str) -> ApiError:
    return _fail(Err.API_BAD_REQUEST, message)


def _name(event: Mapping[str, object], limits: TriggerLimits) -> str:
    name = event.get("name")
    if not isinstance(name, str):
        raise _bad("name is required and must be a string")
    problem = validate_event_name(name, limits.max_event_name_length)
    if problem is Err.EVENT_NAME_TOO_LONG:
        raise _fail(problem, f"Event name is longer than {limits.max_event_name_length} characters")
    if problem is not None:
        raise _fail(problem, problem.message)
    return name


def _channel(name: object, limits: TriggerLimits) -> str:
    if not isinstance(name, str):
        raise _bad("Channel names must be strings")
    problem = validate_channel_name(name, limits.max_channel_name_length)
    if problem is Err.CHANNEL_NAME_TOO_LONG:
        raise _fail(
            problem, f"Channel name is longer than {limits.max_channel_name_length} characters"
        )
    if problem is not None:
        raise _fail(problem, f"{problem.message}: {name[:200]}")
    return name


def _channels(event: Mapping[str, object], limits: TriggerLimits, batch: bool) -> tuple[str, ...]:
    """Batch items name one ``channel``; /events takes ``channels`` or ``channel``, not both.
    Repeated names are published once."""
    if batch:
        if "channel" not in event:
            raise _bad("channel is required")
        return (_channel(event["channel"], limits),)
    if ("channels" in event) == ("channel" in event):
        raise _bad("Exactly one of channels or channel is required")
    if "channel" in event:
        return (_channel(event["channel"], limits),)
    names = event["channels"]
    if not isinstance(names, list) or not names:
        raise _bad("channels must be a non-empty array of channel names")
    if len(names) > limits.max_event_channels_at_once:
        raise _bad(
            f"An event can be triggered on at most {limits.max_event_channels_at_once} channels"
        )
    return tuple(dict.fromkeys(_channel(name, limits) for name in names))


def _data(event: Mapping[str, object], limits: TriggerLimits) -> str:
    """Pusher's ``data`` is a string; a non-string from a lax SDK is JSON-encoded so clients
    still receive a string."""
    if "data" not in event:
        raise _bad("data is required")
    data = event["data"]
    text = data if isinstance(data, str) else orjson.dumps(data).decode()
    limit_kb = limits.max_event_payload_in_kb
    if len(text.encode()) > limit_kb * 1024:
        raise _fail(Err.PAYLOAD_TOO_LARGE, f"Event data is larger than {limit_kb} KB")
    return text


def _socket_id(event: Mapping[str, object]) -> str | None:
    socket_id = event.get("socket_id")
    if socket_id is None:
        return None
    if not isinstance(socket_id, str) or not _SOCKET_ID_RE.fullmatch(socket_id):
        raise _bad("Invalid socket_id")
    return socket_id


def _info(event: Mapping[str, object]) -> frozenset[str]:
    info = event.get("info")
    if info is None:
        return frozenset()
    if not isinstance(info, str):
        raise _bad("info must be a comma-separated string")
    attributes = frozenset(part for part in info.split(",") if part)
    unknown = attributes - INFO_ATTRIBUTES
    if unknown:
        raise _bad(f"Unsupported info attributes: {','.join(sorted(unknown))}")
    return attributes


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
            raise ApiError(error.status, f"batch[{index}]: {error.message}") from None
    return events
