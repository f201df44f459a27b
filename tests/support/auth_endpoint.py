"""The app backend pusher-js calls for auth, signing with the official `pusher` Python SDK.

Interop is only proven when the signatures come from Pusher's own SDK rather than from our
protocol code, so this endpoint never signs anything itself. pusher-js posts form-encoded
`socket_id` (+ `channel_name`) plus the `params` a test gives the client: `user_id`,
`user_name` and, for user authentication, a comma-separated `watchlist`.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pusher

CHANNEL_AUTH_PATH = "/pusher/auth"
FORGED_CHANNEL_AUTH_PATH = "/pusher/auth-forged"  # valid shape, signed with the wrong secret
USER_AUTH_PATH = "/pusher/user-auth"
FORGED_USER_AUTH_PATH = "/pusher/user-auth-forged"  # valid shape, signed with the wrong secret


def channel_authorization(sdk: pusher.Pusher, form: dict[str, str]) -> dict[str, str]:
    """Body for a channel authorization request: auth, plus channel_data / shared_secret."""
    channel = form["channel_name"]
    custom_data = None
    if channel.startswith("presence-"):
        custom_data = {"user_id": form["user_id"], "user_info": {"name": form["user_name"]}}
    payload = sdk.authenticate(channel, form["socket_id"], custom_data)
    # The SDK returns shared_secret as base64 *bytes*; JSON needs text.
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in payload.items()}


def user_authentication(sdk: pusher.Pusher, form: dict[str, str]) -> dict[str, str]:
    """Body for a user authentication (`pusher:signin`) request: auth and user_data."""
    watchlist = [user for user in form.get("watchlist", "").split(",") if user]
    user_data = {
        "id": form["user_id"],
        "user_info": {"name": form["user_name"]},
        "watchlist": watchlist,
    }
    return sdk.authenticate_user(form["socket_id"], user_data)


class AuthEndpoint:
    """A stdlib HTTP server on a free loopback port, serving in a daemon thread."""

    def __init__(self, sdk: pusher.Pusher, forger: pusher.Pusher) -> None:
        routes = {
            CHANNEL_AUTH_PATH: lambda form: channel_authorization(sdk, form),
            FORGED_CHANNEL_AUTH_PATH: lambda form: channel_authorization(forger, form),
            USER_AUTH_PATH: lambda form: user_authentication(sdk, form),
            FORGED_USER_AUTH_PATH: lambda form: user_authentication(forger, form),
        }
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(routes))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def start(self) -> AuthEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> AuthEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(routes: dict) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
            route = routes.get(self.path)
            if route is None:
                self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})
                return
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            try:
                self._reply(HTTPStatus.OK, route(form))
            except (KeyError, ValueError) as exc:  # missing param, or the SDK refused it
                self._reply(HTTPStatus.FORBIDDEN, {"error": repr(exc)})

        def _reply(self, status: HTTPStatus, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            """Keep pytest output clean; failures show up in the driver's observations."""

    return Handler
