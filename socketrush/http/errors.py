"""Every error the HTTP layer answers: JSON ``{"error": message}`` with the status of its row
in the error table (`protocol/errors.py`), whoever raised it.

Besides the views' own `ApiError`s that covers what Werkzeug raises before or while a view
runs (unknown route, wrong method, body too large, unreadable query or body), a body too slow
(http/deadline.py), what the actor runtime raises when an app cannot take or answer a
message, an app manager that cannot look an app up, and any other exception: Flask logs that
one with its traceback (a bug to fix) and answers a JSON 500.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from actors import ActorError, MailboxFull
from socketrush.app_managers.base import AppManagerError
from socketrush.http.deadline import BodyTimeout
from socketrush.protocol.errors import Err, ErrorSpec
from socketrush.protocol.http_api import ApiError, error_body

# Seconds a client is asked to wait when the app manager cannot answer: about as long as a
# database takes to restart or fail over.
APP_MANAGER_RETRY_AFTER = "5"

# Werkzeug's errors by status; any other client error is a bad request, any other server
# error an internal one.
_WERKZEUG_ROWS: dict[int, ErrorSpec] = {
    400: Err.API_BAD_REQUEST,
    404: Err.API_NOT_FOUND,
    405: Err.API_METHOD_NOT_ALLOWED,
    413: Err.API_BODY_TOO_LARGE,
    500: Err.API_INTERNAL_ERROR,
}


def raw_error_response(spec: ErrorSpec) -> bytes:
    """A whole HTTP/1.1 error response, head and JSON body, for a request refused before
    any WSGI app runs (an unreadable request head); the connection closes after it."""
    error = ApiError(spec)
    body = error_body(error)
    status = error.status
    reason = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def error_response(error: ApiError) -> Response:
    return Response(error_body(error), status=error.status, mimetype="application/json")


def _werkzeug_row(error: HTTPException) -> ErrorSpec:
    code = error.code or 500
    fallback = Err.API_INTERNAL_ERROR if code >= 500 else Err.API_BAD_REQUEST
    return _WERKZEUG_ROWS.get(code, fallback)


def register_error_handlers(flask_app: Flask, max_body_bytes: int) -> None:
    """Install the handlers on `flask_app`; `max_body_bytes` is named in the 413's message."""

    @flask_app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return error_response(error)

    @flask_app.errorhandler(MailboxFull)
    def app_overloaded(_error: MailboxFull) -> Response:
        """The app actor refused the request's events (`AppActor.tell_all`): none was sent."""
        response = error_response(ApiError(Err.API_APP_OVERLOADED))
        response.headers["Retry-After"] = "1"
        return response

    @flask_app.errorhandler(ActorError)
    def app_unavailable(_error: ActorError) -> Response:
        """An ask that timed out, or an app actor that is stopping: try again later."""
        return error_response(ApiError(Err.API_UNAVAILABLE))

    @flask_app.errorhandler(AppManagerError)
    def apps_unavailable(_error: AppManagerError) -> Response:
        """The app manager could not look the app up (logged there, once per outage)."""
        response = error_response(ApiError(Err.APP_MANAGER_UNAVAILABLE))
        response.headers["Retry-After"] = APP_MANAGER_RETRY_AFTER
        return response

    @flask_app.errorhandler(BodyTimeout)
    def body_timeout(_error: BodyTimeout) -> Response:
        """The body stopped coming (http/deadline.py): answered, and the connection closed."""
        response = error_response(ApiError(Err.API_BODY_TIMEOUT))
        response.headers["Connection"] = "close"
        return response

    @flask_app.errorhandler(RequestEntityTooLarge)
    def body_too_large(_error: RequestEntityTooLarge) -> Response:
        detail = f"Request body is larger than {max_body_bytes} bytes"
        return error_response(ApiError(Err.API_BODY_TOO_LARGE, detail))

    @flask_app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        response = error_response(ApiError(_werkzeug_row(error)))
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(
                sorted(error.valid_methods)
            )  # RFC 9110 asks for it
        return response
