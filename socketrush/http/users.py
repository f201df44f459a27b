"""Users: ``POST /apps/{id}/users/{user_id}/terminate_connections``, and the same without
``/apps/{id}`` as the official Python SDK sends it."""

from __future__ import annotations

from flask import Blueprint, Response, request

from socketrush.app import AppActor, TerminateUser
from socketrush.http.checks import RequestChecks
from socketrush.http.responses import json_response
from socketrush.protocol.errors import Err
from socketrush.protocol.http_api import ApiError


def users_blueprint(checks: RequestChecks) -> Blueprint:
    views = Blueprint("users", __name__)

    @views.post("/apps/<app_id>/users/<user_id>/terminate_connections")
    @checks.signed("backend_events")
    def terminate(app: AppActor, user_id: str) -> Response:
        if not app.tell(TerminateUser(user_id)):
            raise ApiError(Err.API_UNAVAILABLE)
        return json_response({})

    @views.post("/users/<user_id>/terminate_connections")
    def terminate_by_key(user_id: str) -> Response:
        """The official Python SDK (pusher 3.x) posts here, without ``/apps/{id}``; the app is
        the one whose key signed the request, and the signature is then checked as usual."""
        app = checks.node.app_by_key(request.args.get("auth_key", ""))
        if app is None:
            raise ApiError(Err.API_BAD_SIGNATURE, "auth_key does not match any app's key")
        return terminate(app_id=app.settings.id, user_id=user_id)

    return views
