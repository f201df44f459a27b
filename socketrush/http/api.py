"""The Pusher HTTP API (https://pusher.com/docs/channels/library_auth_reference/rest-api/)
plus health and usage endpoints, as one Flask app.

Each API request is checked once — app, signature, rate limit — and its body parsed once;
events are encoded once per channel and handed to the app actor, which fans them out.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from functools import wraps

import orjson
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from actors import MailboxFull
from socketrush import metrics
from socketrush.app import (
    AppActor,
    ListChannels,
    Publish,
    QueryChannel,
    QueryUsers,
    TerminateUser,
)
from socketrush.http.cors import enable_cors
from socketrush.http.dashboard import create_dashboard
from socketrush.node import Node
from socketrush.protocol import frames
from socketrush.protocol.channels import classify
from socketrush.protocol.errors import Err
from socketrush.protocol.http_api import (
    ApiError,
    TriggerEvent,
    parse_batch,
    parse_trigger,
    verify_signed_request,
)
from socketrush.ratelimit import Kind

ASK_TIMEOUT = 5.0


def json_response(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def _max_body_bytes(node: Node) -> int:
    """Largest body any app may legitimately send: a full batch of full payloads, plus slack."""
    largest = max(
        (
            app.max_event_payload_in_kb * max(app.max_event_batch_size, 1)
            for app in node.settings.apps
        ),
        default=100,
    )
    return largest * 1024 * 2 + 64 * 1024


def create_flask_app(node: Node) -> Flask:
    flask_app = Flask("socketrush")
    flask_app.config["MAX_CONTENT_LENGTH"] = _max_body_bytes(node)
    enable_cors(flask_app, node.settings.cors_allowed_origins)
    if node.dashboard.enabled:
        flask_app.register_blueprint(create_dashboard(node))

    @flask_app.after_request
    def count_request(response: Response) -> Response:
        """Labelled with the view's name, never the raw path, and with the app id only once
        the app was found, so made-up URLs cannot grow the label set."""
        metrics.HTTP_REQUESTS.labels(
            g.get("app_id", ""), request.endpoint or "unknown", str(response.status_code)
        ).inc()
        return response

    @flask_app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return json_response({"error": error.message}, error.status)

    @flask_app.errorhandler(MailboxFull)
    def overloaded(_error: MailboxFull) -> Response:
        """The app actor refused the request's events (`AppActor.tell_all`): none was sent."""
        spec = Err.API_APP_OVERLOADED
        response = json_response({"error": spec.message}, spec.http_status or 429)
        response.headers["Retry-After"] = "1"
        return response

    @flask_app.errorhandler(RequestEntityTooLarge)
    def body_too_large(_error: RequestEntityTooLarge) -> Response:
        limit = flask_app.config["MAX_CONTENT_LENGTH"]
        return json_response({"error": f"Request body is larger than {limit} bytes"}, 413)

    @flask_app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return json_response({"error": error.description}, error.code or 500)

    def signed(kind: Kind) -> Callable:
        """Find the app, check it is enabled, verify the signature and the rate limit."""

        def decorate(view: Callable) -> Callable:
            @wraps(view)
            def wrapper(app_id: str, **kwargs: str) -> Response:
                app = node.app_by_id(app_id)
                if app is None:
                    raise ApiError(404, f"Unknown app id {app_id[:100]}")
                settings = app.settings
                g.app_id = settings.id
                if not settings.enabled:
                    raise ApiError(403, "App is disabled")
                verify_signed_request(
                    request.method,
                    request.path,
                    request.args.to_dict(flat=True),
                    _request_body(),
                    settings.key,
                    settings.secret,
                    time.time(),
                )
                if kind == "read_requests":
                    _take(app, kind, 1)
                return view(app, **kwargs)

            return wrapper

        return decorate

    def _request_body() -> bytes:
        """The body, read once. Werkzeug refuses a too large Content-Length up front but cuts a
        chunked body off at the limit without a word, so a body that reaches it is too large."""
        body = request.get_data()
        if len(body) >= flask_app.config["MAX_CONTENT_LENGTH"]:
            raise RequestEntityTooLarge()
        return body

    def _take(app: AppActor, kind: Kind, count: int) -> None:
        """Counted by the node's limiter in this greenlet: with the Redis driver the request
        waits for its own round trip, and no actor waits with it."""
        if not node.rate_limiter.take(app.settings, kind, count):
            metrics.RATE_LIMITED.labels(app.settings.id, kind).inc()
            what = "backend events" if kind == "backend_events" else "read requests"
            raise ApiError(429, f"Rate limit exceeded: too many {what} per second")

    def _body() -> object:
        try:
            return orjson.loads(request.get_data())
        except orjson.JSONDecodeError as error:
            raise ApiError(400, f"Body is not valid JSON: {error}") from None

    def _publish(app: AppActor, events: list[TriggerEvent]) -> None:
        _take(app, "backend_events", sum(len(event.channels) for event in events))
        app.tell_all(
            [
                Publish(
                    channel, frames.event_frame(event.name, channel, event.data), event.socket_id
                )
                for event in events
                for channel in event.channels
            ]
        )
        for event in events:  # only once published: a refused request never reached anyone
            node.dashboard.feed.api_event(app.settings.id, event)

    def _channel_info(app: AppActor, channel: str, info: frozenset[str]) -> dict:
        stats = app.ask(QueryChannel(channel), ASK_TIMEOUT)
        result: dict[str, int] = {}
        if "subscription_count" in info:
            result["subscription_count"] = stats.subscription_count if stats else 0
        if "user_count" in info and classify(channel).is_presence:
            result["user_count"] = (stats.user_count or 0) if stats else 0
        return result

    @flask_app.post("/apps/<app_id>/events")
    @signed("backend_events")
    def trigger(app: AppActor) -> Response:
        event = parse_trigger(_body(), app.settings)
        _publish(app, [event])
        if not event.info:
            return json_response({})
        return json_response(
            {
                "channels": {
                    channel: _channel_info(app, channel, event.info) for channel in event.channels
                }
            }
        )

    @flask_app.post("/apps/<app_id>/batch_events")
    @signed("backend_events")
    def trigger_batch(app: AppActor) -> Response:
        events = parse_batch(_body(), app.settings)
        _publish(app, events)
        if not any(event.info for event in events):
            return json_response({})
        return json_response(
            {"batch": [_channel_info(app, event.channels[0], event.info) for event in events]}
        )

    @flask_app.get("/apps/<app_id>/channels")
    @signed("read_requests")
    def channels(app: AppActor) -> Response:
        prefix = request.args.get("filter_by_prefix", "")
        info = {part for part in request.args.get("info", "").split(",") if part}
        if info - {"user_count"}:
            raise ApiError(400, f"Unsupported info attributes: {','.join(sorted(info))}")
        with_users = "user_count" in info
        if with_users and not prefix.startswith("presence-"):
            raise ApiError(400, "info=user_count requires filter_by_prefix=presence-")
        listing = app.ask(ListChannels(prefix, with_users), ASK_TIMEOUT)
        return json_response(
            {
                "channels": {
                    name: ({"user_count": stats.user_count} if with_users else {})
                    for name, stats in listing.items()
                }
            }
        )

    @flask_app.get("/apps/<app_id>/channels/<path:channel>")
    @signed("read_requests")
    def channel(app: AppActor, channel: str) -> Response:
        if channel.endswith("/users"):
            return _users(app, channel[: -len("/users")])
        info = {part for part in request.args.get("info", "").split(",") if part}
        unknown = info - {"subscription_count", "user_count", "cache"}
        if unknown:
            raise ApiError(400, f"Unsupported info attributes: {','.join(sorted(unknown))}")
        kind = classify(channel)
        if "user_count" in info and not kind.is_presence:
            raise ApiError(400, "info=user_count is only available for presence channels")
        stats = app.ask(QueryChannel(channel), ASK_TIMEOUT)
        body: dict[str, object] = {"occupied": stats is not None}
        if "subscription_count" in info:
            body["subscription_count"] = stats.subscription_count if stats else 0
        if "user_count" in info:
            body["user_count"] = (stats.user_count or 0) if stats else 0
        if "cache" in info and kind.is_cache:
            cached = node.cache.get(f"cache-channel:{app.settings.id}:{channel}")
            ttl = node.cache.ttl(f"cache-channel:{app.settings.id}:{channel}")
            if cached is not None and ttl is not None:
                event = orjson.loads(cached)
                body["cache"] = {
                    "event": event.get("event"),
                    "data": event.get("data"),
                    "ttl": int(ttl),
                }
        return json_response(body)

    def _users(app: AppActor, channel: str) -> Response:
        if not classify(channel).is_presence:
            raise ApiError(400, "Users can only be listed for presence channels")
        user_ids = app.ask(QueryUsers(channel), ASK_TIMEOUT)
        return json_response({"users": [{"id": uid} for uid in user_ids]})

    @flask_app.post("/apps/<app_id>/users/<user_id>/terminate_connections")
    @signed("backend_events")
    def terminate(app: AppActor, user_id: str) -> Response:
        app.tell(TerminateUser(user_id))
        return json_response({})

    @flask_app.post("/users/<user_id>/terminate_connections")
    def terminate_by_key(user_id: str) -> Response:
        """The official Python SDK (pusher 3.x) posts here, without ``/apps/{id}``; the app is
        the one whose key signed the request, and the signature is then checked as usual."""
        app = node.app_by_key(request.args.get("auth_key", ""))
        if app is None:
            raise ApiError(401, "auth_key does not match any app's key")
        return terminate(app_id=app.settings.id, user_id=user_id)

    @flask_app.get("/")
    def health() -> Response:
        return Response("OK", mimetype="text/plain")

    @flask_app.get("/ready")
    def ready() -> Response:
        if node.ready and node.adapter.healthy:
            return Response("OK", mimetype="text/plain")
        return Response("NOT READY", status=503, mimetype="text/plain")

    @flask_app.get("/accept-traffic")
    def accept_traffic() -> Response:
        """For load balancers: may new connections come here? No while starting or draining;
        unlike /ready it ignores the adapter, since local clients are still served."""
        if node.ready:
            return Response("OK", mimetype="text/plain")
        return Response("NOT ACCEPTING TRAFFIC", status=503, mimetype="text/plain")

    @flask_app.get("/usage")
    def usage() -> Response:
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return json_response(
            {
                "memory": {"rss_bytes": _current_rss_bytes(), "max_rss_bytes": rss_kb * 1024},
                "connections": node.connection_count(),
                "uptime_seconds": round(time.time() - node.started_at, 3),
            }
        )

    return flask_app


def _current_rss_bytes() -> int:
    """Resident memory now (Linux), from /proc; the rusage figure is only the peak."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize()
    except OSError:
        return 0
