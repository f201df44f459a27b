"""The dashboard's HTTP side: the page, its assets and the JSON it reads, as a Blueprint
mounted at /dashboard when `dashboard_enabled` is set.

Access: only over TLS or from loopback (403 otherwise, before anything else). GET /dashboard
takes HTTP Basic credentials (401 and a Basic challenge otherwise) and opens a session: a
signed cookie, HttpOnly and SameSite=Strict, so no other site's page can use it. Every other
dashboard URL needs that session and answers 401 without it; a state-changing POST also needs
a JSON or form body the page's own scripts send. Nothing here ever reads an app secret into a
response: apps are described by id, key and switches only.

The queries are the HTTP API's (asked of the app actor, so cluster-wide with Redis), and the
event creator publishes exactly as POST /apps/{id}/events does: the same validation, rate
limit, `Publish` messages (all or none) and debug record. Its errors are rows of the same
table (`protocol/errors.py`), answered as JSON like the API's.
"""

from __future__ import annotations

import re
from importlib import resources

import orjson
from flask import Blueprint, Response, request, send_from_directory

from socketrush.app import AppActor, ListChannels, QueryUsers
from socketrush.dashboard.access import SESSION_SECONDS, private_transport
from socketrush.dashboard.hub import DEBUG_CHANNEL, Figures, Samples
from socketrush.http.errors import error_response
from socketrush.http.events import publish as publish_events
from socketrush.node import Node
from socketrush.protocol.channels import classify
from socketrush.protocol.errors import Err, ErrorSpec
from socketrush.protocol.http_api import ApiError, check_users_channel, parse_json, parse_trigger

ASK_TIMEOUT = 5.0
COOKIE = "socketrush_dashboard"
STATIC_DIR = resources.files("socketrush.dashboard") / "static"
_SOCKET_ID_RE = re.compile(r"\d{1,20}\.\d{1,20}")


def _json(body: object, status: int = 200) -> Response:
    response = Response(orjson.dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(spec: ErrorSpec) -> Response:
    response = error_response(ApiError(spec))
    response.headers["Cache-Control"] = "no-store"
    return response


def _unauthorized(challenge: bool) -> Response:
    """No details: the same answer for a missing, wrong or expired credential."""
    response = _refused(Err.API_DASHBOARD_UNAUTHORIZED)
    if challenge:
        response.headers["WWW-Authenticate"] = (
            'Basic realm="Socket Rush dashboard", charset="UTF-8"'
        )
    return response


def create_dashboard(node: Node) -> Blueprint:
    dashboard = node.dashboard
    access, hub = dashboard.access, dashboard.hub
    assert access is not None and hub is not None, "mounted only when the dashboard is enabled"
    blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")

    @blueprint.before_request
    def guard() -> Response | None:
        if not private_transport(request.is_secure, request.remote_addr):
            return _refused(Err.API_DASHBOARD_PRIVATE_ONLY)
        if request.endpoint == "dashboard.page":
            return None  # it checks the Basic credentials itself
        if not access.session_valid(request.cookies.get(COOKIE)):
            return _unauthorized(challenge=False)
        if request.method == "POST" and request.mimetype not in _POST_TYPES:
            return _refused(Err.API_UNSUPPORTED_MEDIA_TYPE)
        return None

    @blueprint.after_request
    def harden(response: Response) -> Response:
        host = request.host
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            f"connect-src 'self' ws://{host} wss://{host}; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @blueprint.get("", endpoint="page")
    def page() -> Response:
        if not access.login_valid(request.headers.get("Authorization")):
            return _unauthorized(challenge=True)
        response = Response((STATIC_DIR / "index.html").read_bytes(), mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.set_cookie(
            COOKIE,
            access.new_session(),
            max_age=SESSION_SECONDS,
            path="/dashboard",
            secure=request.is_secure,
            httponly=True,
            samesite="Strict",
        )
        return response

    @blueprint.get("/static/<path:name>")
    def static(name: str) -> Response:
        return send_from_directory(str(STATIC_DIR), name, max_age=0)

    @blueprint.get("/api/apps")
    def apps() -> Response:
        figures = hub.ask(Figures(), ASK_TIMEOUT)
        return _json({"apps": [_describe(app, figures) for app in node.apps]})

    @blueprint.get("/api/apps/<app_id>/channels")
    def channels(app_id: str) -> Response:
        listing = _app(node, app_id).ask(ListChannels("", True), ASK_TIMEOUT)
        rows = []
        for name, stats in sorted(listing.items()):
            row: dict[str, object] = {"name": name, "subscription_count": stats.subscription_count}
            if classify(name).is_presence:
                row["user_count"] = stats.user_count or 0
            rows.append(row)
        return _json({"channels": rows})

    @blueprint.get("/api/apps/<app_id>/channels/<path:channel>/users")
    def users(app_id: str, channel: str) -> Response:
        app = _app(node, app_id)
        check_users_channel(channel, app.settings)
        user_ids = app.ask(QueryUsers(channel), ASK_TIMEOUT)
        return _json({"users": [{"id": user_id} for user_id in user_ids]})

    @blueprint.get("/api/apps/<app_id>/samples")
    def samples(app_id: str) -> Response:
        _app(node, app_id)
        return _json(hub.ask(Samples(app_id), ASK_TIMEOUT))

    @blueprint.post("/api/apps/<app_id>/events")
    def publish(app_id: str) -> Response:
        app = _app(node, app_id)
        publish_events(node, app, [parse_trigger(_event_body(), app.settings)])
        return _json({})

    @blueprint.post("/api/apps/<app_id>/auth")
    def authorize(app_id: str) -> Response:
        """pusher-js's channel authorizer: signs the page's socket into the debug channel."""
        app = _app(node, app_id)
        socket_id = request.form.get("socket_id", "")
        if request.form.get("channel_name") != DEBUG_CHANNEL:
            raise ApiError(Err.API_DASHBOARD_DEBUG_CHANNEL_ONLY)
        if not _SOCKET_ID_RE.fullmatch(socket_id):
            raise ApiError(Err.API_BAD_REQUEST, "Invalid socket_id")
        return _json({"auth": access.channel_auth(app.settings.id, socket_id)})

    return blueprint


_POST_TYPES = frozenset({"application/json", "application/x-www-form-urlencoded"})


def _app(node: Node, app_id: str) -> AppActor:
    app = node.app_by_id(app_id)
    if app is None:
        raise ApiError(Err.API_APP_NOT_FOUND, f"Unknown app id {app_id[:100]}")
    return app


def _event_body() -> dict:
    """The event creator's form as the HTTP API's trigger body: `data` is sent as typed (the
    page checks it is JSON), so it reaches subscribers exactly as a backend's would."""
    body = parse_json(request.get_data())
    if not isinstance(body, dict):
        raise ApiError(Err.API_BAD_REQUEST, "Body must be a JSON object")
    fields = {"name": "event", "channel": "channel", "data": "data"}
    return {api: body[ours] for api, ours in fields.items() if ours in body}


def _describe(app: AppActor, figures: dict) -> dict:
    """What the page may know of an app: never its secret."""
    settings = app.settings
    live = figures.get(settings.id, {})
    channels = app.ask(ListChannels("", True), ASK_TIMEOUT)
    return {
        "id": settings.id,
        "key": settings.key,
        "enabled": settings.enabled,
        "client_events": settings.enable_client_messages,
        "connections": live.get("connections", 0),
        "messages_per_second": live.get("messages_per_second", 0.0),
        "channels": len(channels),
        "presence_members": sum(
            stats.user_count or 0 for name, stats in channels.items() if classify(name).is_presence
        ),
    }
