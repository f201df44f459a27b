"""Socket Rush chat example: the app backend a pusher-js page needs.

It does the three jobs a Pusher Channels backend always has, with the official `pusher` SDK and
nothing Socket Rush specific besides host and port:

* authorize private, presence and encrypted channel subscriptions (`/pusher/auth`),
* authenticate users for `pusher.signin()` (`/pusher/user-auth`), so the server can address a
  user directly (`/wave` uses `send_to_user`),
* publish through the HTTP API (`/messages` calls `trigger`), because a browser must never hold
  the app secret.

Identity is a name typed on the login page and kept in Flask's signed session cookie; a real
app would take it from its own login instead.

Run it with `make -C examples/chat run` (starts a local Socket Rush too) or
`python app.py --port 5000` against a server described by the environment variables below.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pusher
from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
)

HERE = Path(__file__).resolve().parent
PUSHER_JS_DIR = HERE / "node_modules" / "pusher-js" / "dist" / "web"
CHAT_CHANNEL = "presence-chat"  # members list, messages, typing (client events)
SECRET_CHANNEL = "private-encrypted-chat"  # end-to-end encrypted: the server sees ciphertext
CHANNELS = {CHAT_CHANNEL, SECRET_CHANNEL}
MAX_NAME = 32
MAX_TEXT = 500


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """Where Socket Rush is and which app to use; read from the environment by `from_env`."""

    app_id: str = "123"  # the Python SDK accepts numeric app ids only
    key: str = "chat-key"
    secret: str = "chat-secret"
    host: str = "127.0.0.1"
    port: int = 6001
    # Encrypted channels derive per-channel keys from this; it never leaves the backend.
    encryption_master_key_base64: str = field(
        default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode()
    )

    @classmethod
    def from_env(cls) -> ChatSettings:
        """SOCKETRUSH_* for the server, CHAT_ENCRYPTION_MASTER_KEY_BASE64 for encryption."""
        env = os.environ
        defaults = cls()
        return cls(
            app_id=env.get("SOCKETRUSH_APP_ID", defaults.app_id),
            key=env.get("SOCKETRUSH_APP_KEY", defaults.key),
            secret=env.get("SOCKETRUSH_APP_SECRET", defaults.secret),
            host=env.get("SOCKETRUSH_HOST", defaults.host),
            port=int(env.get("SOCKETRUSH_PORT", defaults.port)),
            encryption_master_key_base64=env.get(
                "CHAT_ENCRYPTION_MASTER_KEY_BASE64", defaults.encryption_master_key_base64
            ),
        )


def create_app(settings: ChatSettings) -> Flask:
    """The Flask app; `settings` decide which Socket Rush server and app it talks to."""
    app = Flask(__name__)
    app.secret_key = os.environ.get("CHAT_SESSION_SECRET") or secrets.token_hex(32)
    # Other sites must not get the auth endpoints to sign for a logged-in visitor.
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    sdk = pusher.Pusher(
        app_id=settings.app_id,
        key=settings.key,
        secret=settings.secret,
        host=settings.host,
        port=settings.port,
        ssl=False,
        encryption_master_key_base64=settings.encryption_master_key_base64,
    )

    @app.get("/")
    def index() -> str:
        user = session.get("user")
        if user is None:
            return render_template("login.html", max_name=MAX_NAME)
        client = {"key": settings.key, "wsHost": settings.host, "wsPort": settings.port}
        return render_template(
            "chat.html", user=user, client=client, chat=CHAT_CHANNEL, secret=SECRET_CHANNEL
        )

    @app.post("/login")
    def login() -> Response:
        name = request.form.get("name", "").strip()
        if not 0 < len(name) <= MAX_NAME:
            abort(400, f"a name of 1 to {MAX_NAME} characters is required")
        session["user"] = {"id": secrets.token_hex(8), "name": name}
        return redirect("/")

    @app.post("/pusher/auth")
    def channel_auth() -> Response:
        user = _current_user()
        channel = request.form.get("channel_name", "")
        if channel not in CHANNELS:
            abort(403, f"no access to {channel!r}")
        presence = {"user_id": user["id"], "user_info": {"name": user["name"]}}
        body = sdk.authenticate(
            channel,
            request.form.get("socket_id", ""),
            presence if channel.startswith("presence-") else None,
        )
        return jsonify(_text_values(body))

    @app.post("/pusher/user-auth")
    def user_auth() -> Response:
        user = _current_user()
        user_data = {"id": user["id"], "user_info": {"name": user["name"]}}
        return jsonify(sdk.authenticate_user(request.form.get("socket_id", ""), user_data))

    @app.post("/messages")
    def post_message() -> tuple[str, int]:
        user = _current_user()
        body = request.get_json(silent=True) or {}
        text = str(body.get("text", "")).strip()
        if not 0 < len(text) <= MAX_TEXT:
            abort(400, f"a message of 1 to {MAX_TEXT} characters is required")
        channel = SECRET_CHANNEL if body.get("encrypted") else CHAT_CHANNEL
        sdk.trigger(channel, "message", {"user": user["name"], "text": text})
        return "", 204

    @app.post("/wave")
    def wave() -> tuple[str, int]:
        """Reaches one user on every tab they signed in with, whatever channels they joined."""
        user = _current_user()
        target = str((request.get_json(silent=True) or {}).get("user_id", ""))
        if not target:
            abort(400, "user_id is required")
        sdk.send_to_user(target, "wave", {"from": user["name"]})
        return "", 204

    @app.get("/vendor/<path:name>")
    def vendor(name: str) -> Response:
        """pusher-js from npm (`make deps`), served locally so the page needs no CDN."""
        return send_from_directory(PUSHER_JS_DIR, name)

    return app


def _current_user() -> dict[str, str]:
    user = session.get("user")
    if user is None:
        abort(403, "log in first")
    return user


def _text_values(body: dict[str, Any]) -> dict[str, Any]:
    """The SDK returns an encrypted channel's shared_secret as bytes; JSON needs text."""
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in body.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description="Socket Rush chat example backend")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    settings = ChatSettings.from_env()
    print(
        f"chat on http://{args.host}:{args.port} using Socket Rush {settings.host}:{settings.port}"
    )
    create_app(settings).run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
