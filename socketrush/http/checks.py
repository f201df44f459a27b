"""What every signed HTTP API view needs checked once per request: the app, its signature,
its rate limit, and its body, read and decoded once.

The views are thin: they take the checked app, hand the decoded body or query to the pure
parsers of `protocol/http_api.py`, and tell or ask the app actor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps

from flask import Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from socketrush import metrics
from socketrush.app import AppActor
from socketrush.node import Node
from socketrush.protocol.errors import Err
from socketrush.protocol.http_api import ApiError, parse_json, verify_signed_request
from socketrush.ratelimit import Kind

ASK_TIMEOUT = 5.0  # seconds an API view waits for its app actor's answer (then 503)

SignedView = Callable[..., Response]  # takes the checked AppActor, then the URL's arguments


def max_body_bytes(node: Node) -> int:
    """Largest body any app may legitimately send: a full batch of full payloads, plus slack."""
    largest = max(
        (
            app.max_event_payload_in_kb * max(app.max_event_batch_size, 1)
            for app in node.settings.apps
        ),
        default=100,
    )
    return largest * 1024 * 2 + 64 * 1024


class RequestChecks:
    """The checks, bound to the node whose apps they find."""

    def __init__(self, node: Node, body_limit: int) -> None:
        self.node = node
        self.body_limit = body_limit

    def signed(self, kind: Kind) -> Callable[[SignedView], Callable[..., Response]]:
        """Decorate a view taking the app: find the app by the URL's ``app_id``, check it is
        enabled and the request signed by it. A read request also takes one unit of the read
        limit here; a publish takes its units once its body says how many events it holds."""

        def decorate(view: SignedView) -> Callable[..., Response]:
            @wraps(view)
            def checked(app_id: str, **kwargs: str) -> Response:
                app = self.node.app_by_id(app_id)
                if app is None:
                    raise ApiError(Err.API_APP_NOT_FOUND, f"Unknown app id {app_id[:100]}")
                settings = app.settings
                g.app_id = settings.id
                if not settings.enabled:
                    raise ApiError(Err.API_APP_DISABLED)
                verify_signed_request(
                    request.method,
                    request.path,
                    request.args.to_dict(flat=True),
                    self.body(),
                    settings.key,
                    settings.secret,
                    time.time(),
                )
                if kind == "read_requests":
                    take(self.node, app, kind, 1)
                return view(app, **kwargs)

            return checked

        return decorate

    def body(self) -> bytes:
        """The body, read once. Werkzeug refuses a too large Content-Length up front but cuts a
        chunked body off at the limit without a word, so a body that reaches it is too large."""
        body = request.get_data()
        if len(body) >= self.body_limit:
            raise RequestEntityTooLarge()  # answered by http/errors.py, naming the limit
        return body

    def json_body(self) -> object:
        """The body decoded (once: the signature check already read it)."""
        return parse_json(request.get_data())


def take(node: Node, app: AppActor, kind: Kind, count: int) -> None:
    """Take `count` units of the app's `kind` limit, or refuse the request (429). Counted by
    the node's limiter in this greenlet: with the Redis driver the request waits for its own
    round trip, and no actor waits with it."""
    if not node.rate_limiter.take(app.settings, kind, count):
        metrics.RATE_LIMITED.labels(app.settings.id, kind).inc()
        what = "backend events" if kind == "backend_events" else "read requests"
        raise ApiError(Err.API_RATE_LIMITED, f"Rate limit exceeded: too many {what} per second")
