"""What a client may ask over its WebSocket, parsed into typed requests by pure functions.

One text frame becomes one request: `ClientEvent` (the hot path, relayed ~50k/s), `Subscribe`,
`Unsubscribe`, `SignIn`, `Ping` or `Pong`. Anything that cannot be one raises `BadMessage`
with the error-table row to answer. Field types are checked here, so the connection's
handlers only decide (is this allowed, is the signature right), never parse.

Requests are NamedTuples: one is built per client message, ~3x faster than a frozen dataclass.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from socketrush.protocol.errors import Err, ErrorSpec


class ClientEvent(NamedTuple):
    """A `client-*` event for the subscribers of `channel`; `data` is relayed as sent."""

    event: str
    channel: str | None  # None when absent or not a string: answered as "not subscribed"
    data: object


class Subscribe(NamedTuple):
    """`pusher:subscribe`. `auth` and `channel_data` are None when absent or not strings:
    a channel that needs them then refuses the subscription."""

    channel: str
    auth: str | None
    channel_data: str | None


class Unsubscribe(NamedTuple):
    channel: str


class SignIn(NamedTuple):
    """`pusher:signin`; a field that is absent or not a string is None (a bad signature)."""

    user_data: str | None
    auth: str | None


class Ping(NamedTuple):
    """`pusher:ping`: answered with `pusher:pong`."""


class Pong(NamedTuple):
    """`pusher:pong`: the client answered our ping (any bytes already count as activity)."""


ClientRequest = ClientEvent | Subscribe | Unsubscribe | SignIn | Ping | Pong

PING, PONG = Ping(), Pong()


class BadMessage(Exception):
    """A client message that cannot be handled; `spec` is the error to answer with and
    `detail` the message text sent with it."""

    def __init__(self, spec: ErrorSpec, detail: str) -> None:
        super().__init__(detail)
        self.spec = spec
        self.detail = detail


def parse_client_message(text: str | bytes) -> ClientRequest:
    """Decode one client text frame into a request.

    ``data`` is taken as sent: pusher-js sends objects for ``pusher:subscribe`` and client
    events, some clients send the object JSON-encoded into a string (accepted for every
    ``pusher:`` request), and client events relay it unchanged. However deep the JSON nests,
    this raises `BadMessage` (orjson refuses more than 1024 levels) and never recurses itself.
    """
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise BadMessage(Err.INVALID_JSON, f"{Err.INVALID_JSON.message}: {error}") from None
    if type(message) is not dict:
        raise BadMessage(Err.INVALID_FRAME, "The message must be a JSON object")
    event = message.get("event")
    if type(event) is not str:
        raise BadMessage(Err.INVALID_FRAME, "The message must have a string event")
    if event.startswith("client-"):
        channel = message.get("channel")
        return ClientEvent(event, channel if type(channel) is str else None, message.get("data"))
    parse = _PARSERS.get(event)
    if parse is None:
        raise BadMessage(Err.UNKNOWN_EVENT, f"Unknown event: {event[:100]}")
    return parse(message.get("data"))


def _object(data: object) -> dict:
    """A `pusher:` request's data: an object, or an object JSON-encoded into a string."""
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            return {}
    return data if isinstance(data, dict) else {}


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _subscribe(data: object) -> Subscribe:
    fields = _object(data)
    channel = fields.get("channel")
    if not isinstance(channel, str):
        raise BadMessage(Err.INVALID_FRAME, "pusher:subscribe needs data.channel")
    return Subscribe(channel, _string(fields.get("auth")), _string(fields.get("channel_data")))


def _unsubscribe(data: object) -> Unsubscribe:
    channel = _object(data).get("channel")
    if not isinstance(channel, str):
        raise BadMessage(Err.INVALID_FRAME, "pusher:unsubscribe needs data.channel")
    return Unsubscribe(channel)


def _signin(data: object) -> SignIn:
    fields = _object(data)
    return SignIn(_string(fields.get("user_data")), _string(fields.get("auth")))


_PARSERS = {
    "pusher:ping": lambda _data: PING,
    "pusher:pong": lambda _data: PONG,
    "pusher:subscribe": _subscribe,
    "pusher:unsubscribe": _unsubscribe,
    "pusher:signin": _signin,
}
