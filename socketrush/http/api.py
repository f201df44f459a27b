"""The Flask app behind every HTTP request that is not a WebSocket upgrade: the Pusher HTTP
API (https://pusher.com/docs/channels/library_auth_reference/rest-api/), health and usage.

Views live in one Blueprint per concern (events, channels, users, health, and the dashboard
when it is enabled); this module wires them with the request checks they share, the error
handlers that answer every failure from the error table, CORS, and the request counter.
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from socketrush import metrics
from socketrush.http.channels import channels_blueprint
from socketrush.http.checks import RequestChecks, max_body_bytes
from socketrush.http.cors import enable_cors
from socketrush.http.dashboard import create_dashboard
from socketrush.http.errors import register_error_handlers
from socketrush.http.events import events_blueprint
from socketrush.http.health import health_blueprint
from socketrush.http.users import users_blueprint
from socketrush.node import Node


def create_flask_app(node: Node) -> Flask:
    flask_app = Flask("socketrush")
    body_limit = max_body_bytes(node)
    flask_app.config["MAX_CONTENT_LENGTH"] = body_limit
    # `/apps//1/events` would otherwise be redirected (308, an HTML body) to a path the
    # client did not sign: answer it as any unknown path.
    flask_app.url_map.merge_slashes = False
    enable_cors(flask_app, node.settings.cors_allowed_origins)
    register_error_handlers(flask_app, body_limit)

    checks = RequestChecks(node, body_limit)
    api = (
        events_blueprint(checks),
        channels_blueprint(checks),
        users_blueprint(checks),
        health_blueprint(node),
    )
    for blueprint in api:
        flask_app.register_blueprint(blueprint)
    if node.dashboard.enabled:
        flask_app.register_blueprint(create_dashboard(node))
    unprefixed = frozenset(blueprint.name for blueprint in api)

    @flask_app.after_request
    def count_request(response: Response) -> Response:
        """Labelled with the view's name, never the raw path, and with the app id only once
        the app was found, so made-up URLs cannot grow the label set. API views are named
        without their Blueprint (`trigger`, as before they had one); the dashboard's keep it."""
        endpoint = request.endpoint or "unknown"
        if request.blueprint in unprefixed:
            endpoint = endpoint.removeprefix(f"{request.blueprint}.")
        metrics.HTTP_REQUESTS.labels(g.get("app_id", ""), endpoint, str(response.status_code)).inc()
        return response

    return flask_app
