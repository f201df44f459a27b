"""The WSGI callable: WebSocket upgrades on `/app/{key}` go straight to a SocketActor, every
other request to Flask. Dispatching before Flask saves ~4 KB per connection and 40 % of the
connect rate (measured): a WebSocket never pays for Flask's request context.

A request on `/app/` that arrives here without an upgrade is answered in JSON: 503 while the
node drains (the servers let upgrades through as plain requests then, see `NodeApp.node`),
else 400. While the node drains the HTTP API (`/apps/...`) answers the same 503: its app
actors stop during the drain, and a publish should go to a node that stays. Health, readiness
and the dashboard still answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus

from gevent.pywsgi import Input

from socketrush.connection import serve_websocket
from socketrush.http.api import create_flask_app
from socketrush.node import Node
from socketrush.protocol.errors import Err
from socketrush.protocol.http_api import ApiError, error_body

# Seconds a client refused during a drain is asked to wait: about a drain's length.
DRAINING_RETRY_AFTER = "5"


def _canned(error: ApiError, *headers: tuple[str, str]) -> tuple[str, list, bytes]:
    """Status line, headers and body of an error answered before Flask."""
    status = f"{error.status} {HTTPStatus(error.status).phrase}"
    return status, [("Content-Type", "application/json"), *headers], error_body(error)


_UPGRADE_REQUIRED = _canned(ApiError(Err.API_UPGRADE_REQUIRED))
_DRAINING = _canned(ApiError(Err.SERVER_DRAINING), ("Retry-After", DRAINING_RETRY_AFTER))


class NodeApp:
    """The WSGI callable of one node. `node` is public for the servers' handlers, which must
    know before an upgrade whether the node drains (and then refuse it: see
    http/server.py and http/gunicorn_handler.py)."""

    __slots__ = ("node", "_flask")

    def __init__(self, node: Node) -> None:
        self.node = node
        self._flask = create_flask_app(node)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/app/"):
            if environ.get("wsgi.websocket") is not None:
                serve_websocket(self.node, environ)
                return []
            return _answer(start_response, _UPGRADE_REQUIRED if self.node.ready else _DRAINING)
        if not self.node.ready and path.startswith("/apps/"):
            return _answer(start_response, _DRAINING)
        _bound_input(environ)
        return self._flask(environ, start_response)


def create_wsgi_app(node: Node) -> NodeApp:
    return NodeApp(node)


def _answer(start_response: Callable, canned: tuple[str, list, bytes]) -> Iterable[bytes]:
    status, headers, body = canned
    start_response(status, list(headers))  # a server may add to the list it is given
    return [body]


def _bound_input(environ: dict) -> None:
    """gevent gives a request that names an upgrade (`Connection: Upgrade` or `Upgrade:
    websocket`) the raw socket file as its input, marked ``wsgi.input_terminated`` False.
    Werkzeug only asks whether that key is present and would read up to the body limit from
    the socket: the request hung until the client gave up. Every request that reaches Flask
    is plain HTTP, so it gets the input gevent gives any other request: bounded by its
    Content-Length, or its chunks."""
    if environ.get("wsgi.input_terminated") is False:
        chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        length = None if chunked else environ.get("CONTENT_LENGTH")  # gevent checked it
        environ["wsgi.input"] = Input(
            environ["wsgi.input"], int(length) if length else None, chunked_input=chunked
        )
        environ["wsgi.input_terminated"] = True
