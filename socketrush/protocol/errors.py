"""The one table of every error Socket Rush reports, on the WebSocket and on the HTTP API.

Keeping codes and messages in a single table means the socket, the HTTP views and the tests
agree on them by construction. Codes follow the Pusher Channels protocol 7 error-code list
(https://pusher.com/docs/channels/library_auth_reference/pusher-websockets-protocol#error-codes):

* 4000-4099: closed; the client must not reconnect unchanged.
* 4100-4199: closed; the client may reconnect after backing off for at least 1 s.
* 4200-4299: closed; the client may reconnect immediately.
* 4300-4399: any other error (the connection stays open).

Errors that do not close the connection and have no documented code are sent with
``"code": null``, as Pusher itself does (e.g. its "Existing subscription to channel ..." and
"Client event rejected - only supported on private and presence channels" errors).

Failures of the WebSocket protocol itself (RFC 6455: a malformed frame, invalid UTF-8, a
message too big) have no Pusher code: their row closes with an RFC 6455 close code, and the
connection sends only the close frame, since the client's stream can no longer be trusted to
carry a Pusher message.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One error: what the client is told and what happens to its connection.

    `code` is the Pusher error code (None where Pusher sends ``null``). `closes` says whether
    the connection is closed, and `close_code` with which WebSocket close code: the Pusher code
    unless the row gives another (RFC 6455 codes for protocol failures); None for errors that
    keep the connection open. `http_status` is set on the rows the HTTP API answers with
    (`protocol.http_api.ApiError` reads it, and refuses a row without one); a row both
    surfaces use (a name or payload limit, a draining node) reports the same condition on
    both. A WebSocket-only row has none, even where the HTTP API reports a similar condition
    with its own row (an unknown or disabled app: `API_APP_NOT_FOUND`, `API_APP_DISABLED`).
    """

    code: int | None
    message: str
    closes: bool
    http_status: int | None = None
    close_code: int | None = None

    def __post_init__(self) -> None:
        if not self.closes:
            if self.close_code is not None:
                raise ValueError(f"{self.message!r}: close_code on an error that does not close")
            return
        if self.close_code is None:
            if self.code is None:
                raise ValueError(f"{self.message!r}: a closing error needs a code or close_code")
            object.__setattr__(self, "close_code", self.code)  # frozen: set once, here

    @property
    def tells_client(self) -> bool:
        """Whether a `pusher:error` frame goes out: for every error but an RFC 6455 failure
        (closing without a Pusher code), which gets only its close frame."""
        return self.code is not None or not self.closes


@dataclass(frozen=True, slots=True)
class SubscriptionRefusal:
    """A refused subscribe: sent as `pusher:subscription_error` {type, error, status}; the
    connection stays open. `status` is what pusher-js hands the app's error callback."""

    type: str
    message: str
    status: int


class Err:
    """Namespace of every `ErrorSpec`; each row says why its code was chosen."""

    # -- 4000-4099: closed, do not reconnect unchanged (documented codes and messages) --
    APP_NOT_FOUND = ErrorSpec(4001, "Application does not exist", True)
    APP_DISABLED = ErrorSpec(4003, "Application disabled", True)
    OVER_CONNECTION_QUOTA = ErrorSpec(4004, "Application is over connection quota", True)
    PATH_NOT_FOUND = ErrorSpec(4005, "Path not found", True)
    INVALID_VERSION = ErrorSpec(4006, "Invalid version string format", True)
    UNSUPPORTED_PROTOCOL = ErrorSpec(4007, "Unsupported protocol version", True)
    NO_PROTOCOL = ErrorSpec(4008, "No protocol version supplied", True)
    UNAUTHORIZED_CONNECTION = ErrorSpec(4009, "Connection is unauthorized", True)
    # A failed pusher:signin is an unauthorized connection (4009, closed, as soketi does): a
    # client that reconnected unchanged would only fail again, and pusher-js does not.
    SIGNIN_BAD_SIGNATURE = ErrorSpec(4009, "Invalid signature for pusher:signin", True)
    SIGNIN_BAD_USER_DATA = ErrorSpec(4009, "user_data must be JSON with a string id", True)
    # Bounded like a presence member (max_presence_member_size_in_kb): the user id and its
    # watchlist are kept for the connection's lifetime and sent to the app's other actors.
    SIGNIN_USER_DATA_TOO_LARGE = ErrorSpec(4009, "user_data is too large", True)

    # -- 4100-4199: closed, reconnect after backing off --
    OVER_CAPACITY = ErrorSpec(4100, "Over capacity", True)
    # A new connection while the node drains: refused so that clients back off instead of
    # reconnecting at once to the same draining node (204 retries in 0.7 s with pusher-js when
    # it answered 4200). HTTP 503 before the upgrade where the server can still refuse it
    # (pusher-js then retries after its connection timeout); 4100 after a completed upgrade
    # (gevent-websocket's own gunicorn worker), which pusher-js retries after a second.
    SERVER_DRAINING = ErrorSpec(4100, "Server is shutting down, try again later", True, 503)
    # The app manager (database, DynamoDB) cannot answer: the app may well exist, so neither
    # 4001 (pusher-js would never reconnect) nor 404 (an SDK would report a wrong app id).
    # Both surfaces say "try again later": 4100 before the connection is accepted, HTTP 503.
    APP_MANAGER_UNAVAILABLE = ErrorSpec(
        4100, "Applications cannot be looked up right now, try again later", True, 503
    )
    # Not in Pusher's list; 4100 because a slow client should back off before reconnecting.
    SLOW_CONSUMER = ErrorSpec(
        4100, "Over capacity: the outbound backlog for this connection was exceeded", True
    )

    # -- 4200-4299: closed, reconnect immediately --
    # Pusher's "generic reconnect immediately": another node will take the connection.
    SERVER_SHUTTING_DOWN = ErrorSpec(4200, "Server is shutting down, reconnect", True)
    # A channel or app actor crashed and rebuilt its state without this connection's
    # subscriptions: reconnecting subscribes again (pusher-js does both by itself).
    CHANNEL_RESTARTED = ErrorSpec(4200, "Channel restarted, reconnect", True)
    APP_RESTARTED = ErrorSpec(4200, "Application restarted on this server, reconnect", True)
    PONG_NOT_RECEIVED = ErrorSpec(4201, "Pong reply not received", True)
    CLOSED_AFTER_INACTIVITY = ErrorSpec(4202, "Closed after inactivity", True)

    # -- RFC 6455 failures: closed with the protocol's own close code, no Pusher code --
    PROTOCOL_ERROR = ErrorSpec(None, "WebSocket protocol error", True, close_code=1002)
    INVALID_UTF8 = ErrorSpec(None, "Invalid UTF-8", True, close_code=1007)
    MESSAGE_TOO_BIG = ErrorSpec(None, "Message too big", True, close_code=1009)
    # 1008 "policy violation": the frame is well formed, it just never arrives whole.
    FRAME_TIMEOUT = ErrorSpec(None, "Frame not completed in time", True, close_code=1008)

    # -- 4300-4399: the event is rejected, the connection stays open (documented) --
    CLIENT_EVENT_RATE_LIMIT = ErrorSpec(4301, "Client event rejected due to rate limit", False)

    # -- not closing, no documented code: code null, as Pusher sends for such errors --
    INVALID_JSON = ErrorSpec(None, "Invalid JSON", False, 400)
    INVALID_FRAME = ErrorSpec(
        None, "Invalid message: expected a JSON object with a string event", False
    )
    UNKNOWN_EVENT = ErrorSpec(None, "Unknown event", False)
    BINARY_NOT_SUPPORTED = ErrorSpec(None, "Binary frames are not supported", False)
    INVALID_CHANNEL_NAME = ErrorSpec(None, "Invalid channel name", False, 400)
    CHANNEL_NAME_TOO_LONG = ErrorSpec(None, "Channel name too long", False, 400)
    INVALID_EVENT_NAME = ErrorSpec(None, "Invalid event name", False, 400)
    EVENT_NAME_TOO_LONG = ErrorSpec(None, "Event name too long", False, 400)
    PAYLOAD_TOO_LARGE = ErrorSpec(None, "Client event rejected - the data is too large", False, 413)
    CLIENT_EVENTS_DISABLED = ErrorSpec(
        None, "Client event rejected - client events are not enabled for this app", False
    )
    CLIENT_EVENT_NOT_ALLOWED = ErrorSpec(
        None, "Client event rejected - only supported on private and presence channels", False
    )
    CLIENT_EVENT_NOT_SUBSCRIBED = ErrorSpec(
        None, "Client event rejected - not subscribed to the channel", False
    )
    ALREADY_SIGNED_IN = ErrorSpec(None, "This connection is already signed in", False)

    # -- subscriptions refused with pusher:subscription_error (the connection stays open) --
    SUBSCRIPTION_BAD_AUTH = SubscriptionRefusal(
        "AuthError",
        "Invalid signature: the auth for this channel was not signed by the app's secret",
        401,
    )
    SUBSCRIPTION_BAD_CHANNEL_DATA = SubscriptionRefusal(
        "AuthError", "channel_data must be JSON with a user_id", 400
    )
    # 413 like the HTTP API's payload limit: the member data is too large, not unauthorised.
    SUBSCRIPTION_MEMBER_TOO_LARGE = SubscriptionRefusal(
        "LimitReached", "Presence member data is too large", 413
    )
    # 4100 ("over capacity") is what clients already see from other servers for a full channel.
    SUBSCRIPTION_PRESENCE_FULL = SubscriptionRefusal(
        "LimitReached",
        "The maximum number of members in this presence channel has been reached",
        4100,
    )
    SUBSCRIPTION_NOT_OWN_USER_CHANNEL = SubscriptionRefusal(
        "AuthError", "Only the signed-in user may subscribe to its own channel", 403
    )

    # -- HTTP API only: the status carries the meaning, no WebSocket code. The response body
    #    is {"error": message}, or the detail the raiser gives (which names the culprit). --
    API_BAD_REQUEST = ErrorSpec(None, "Bad request", False, 400)
    # Over http.client's limits (a 64 KB line, 100 headers): refused before any view runs.
    # 400 rather than 431, which few clients know; the message says what to fix.
    API_HEADERS_TOO_LARGE = ErrorSpec(None, "Request headers too large", False, 400)
    # A request line over gevent's 8 KB limit (a query string that long is no valid request).
    API_REQUEST_LINE_TOO_LONG = ErrorSpec(None, "Request line too long", False, 414)
    API_UNSUPPORTED_INFO = ErrorSpec(None, "Unsupported info attributes", False, 400)
    API_USER_COUNT_NEEDS_PRESENCE_PREFIX = ErrorSpec(
        None, "info=user_count requires filter_by_prefix=presence-", False, 400
    )
    API_USER_COUNT_NOT_PRESENCE = ErrorSpec(
        None, "info=user_count is only available for presence channels", False, 400
    )
    API_USERS_NOT_PRESENCE = ErrorSpec(
        None, "Users can only be listed for presence channels", False, 400
    )
    # `/app/{key}` is the WebSocket endpoint; a plain request there cannot be served.
    API_UPGRADE_REQUIRED = ErrorSpec(None, "WebSocket upgrade required", False, 400)
    API_BAD_SIGNATURE = ErrorSpec(None, "Invalid signature", False, 401)
    API_BAD_TIMESTAMP = ErrorSpec(None, "Timestamp expired", False, 401)
    # The dashboard says no more than this for a missing, wrong or expired credential.
    API_DASHBOARD_UNAUTHORIZED = ErrorSpec(None, "Unauthorized", False, 401)
    API_APP_DISABLED = ErrorSpec(None, "App is disabled", False, 403)
    API_DASHBOARD_PRIVATE_ONLY = ErrorSpec(
        None, "The dashboard is served over TLS or to loopback only", False, 403
    )
    API_DASHBOARD_DEBUG_CHANNEL_ONLY = ErrorSpec(
        None, "Only the dashboard's debug channel is authorised here", False, 403
    )
    API_APP_NOT_FOUND = ErrorSpec(None, "Unknown app id", False, 404)
    API_NOT_FOUND = ErrorSpec(None, "Not found", False, 404)
    API_METHOD_NOT_ALLOWED = ErrorSpec(None, "Method not allowed", False, 405)
    # The body did not arrive within `request_body_timeout_ms` of the head (the connection is
    # then closed: what is left of the body could not be told from a next request).
    API_BODY_TIMEOUT = ErrorSpec(None, "Request body not received in time", False, 408)
    API_BODY_TOO_LARGE = ErrorSpec(None, "Request body too large", False, 413)
    # The dashboard's state-changing POSTs take only what its own page sends.
    API_UNSUPPORTED_MEDIA_TYPE = ErrorSpec(None, "Unsupported content type", False, 415)
    API_RATE_LIMITED = ErrorSpec(None, "Rate limit exceeded", False, 429)
    # The app actor's mailbox is full (`publish_queue_limit`): its publishes are not keeping
    # up. 429 like a rate limit, because the cure is the same (send fewer, retry later).
    API_APP_OVERLOADED = ErrorSpec(
        None, "App is overloaded: too many events queued, retry later", False, 429
    )
    API_INTERNAL_ERROR = ErrorSpec(None, "Internal server error", False, 500)
    # The app actor did not answer a query in time, or is stopping (a draining node).
    API_UNAVAILABLE = ErrorSpec(None, "App is unavailable, retry later", False, 503)


# RFC 6455 7.4.1 and the IANA registry: 1000-1003, 1005-1015 (1004 is reserved, no meaning).
_RFC_6455_CLOSE_CODES = frozenset({*range(1000, 1004), *range(1005, 1016)})
_KNOWN_CLOSE_CODES = _RFC_6455_CLOSE_CODES | {
    spec.close_code
    for spec in vars(Err).values()
    if isinstance(spec, ErrorSpec) and spec.close_code is not None
}


def close_code_label(code: int) -> str:
    """A close code as a metric label: RFC 6455's and this table's as themselves, any other
    as "other". A client may close with any of 3000-4999 and the server echoes it: counted
    as itself, each would be a metric series of its own, for ever."""
    return str(code) if code in _KNOWN_CLOSE_CODES else "other"


def error_frame(spec: ErrorSpec, message: str | None = None) -> bytes:
    """Encode a ``pusher:error`` frame; `message` overrides the table's text.

    Unlike other ``pusher:`` events, its ``data`` is an object, not a JSON string: the protocol
    documents it that way and clients (e.g. pusher-websocket-swift) only read it as an object.
    """
    data = {"code": spec.code, "message": spec.message if message is None else message}
    return orjson.dumps({"event": "pusher:error", "data": data})
