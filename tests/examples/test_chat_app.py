"""The chat example's backend without a browser: who gets signed, and what is refused."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import sys
from types import ModuleType

import pytest
from flask.testing import FlaskClient

from tests.support.examples import EXAMPLES_DIR


def load_chat_module() -> ModuleType:
    """examples/ is not a package: load app.py the way `python app.py` would see it."""
    spec = importlib.util.spec_from_file_location("chat_app", EXAMPLES_DIR / "chat" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


chat = load_chat_module()
SETTINGS = chat.ChatSettings(app_id="1", key="k", secret="s", port=1)


def sign(text: str) -> str:
    return "k:" + hmac.new(b"s", text.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def client() -> FlaskClient:
    return chat.create_app(SETTINGS).test_client()


def login(client: FlaskClient, name: str = "Ada") -> str:
    assert client.post("/login", data={"name": name}).status_code == 302
    with client.session_transaction() as session:
        return session["user"]["id"]


def test_presence_auth_signs_the_session_user(client: FlaskClient) -> None:
    user_id = login(client)
    reply = client.post("/pusher/auth", data={"socket_id": "1.2", "channel_name": "presence-chat"})
    channel_data = json.dumps({"user_id": user_id, "user_info": {"name": "Ada"}})
    assert reply.json == {
        "auth": sign(f"1.2:presence-chat:{channel_data}"),
        "channel_data": channel_data,
    }


def test_user_auth_signs_the_session_user(client: FlaskClient) -> None:
    user_id = login(client)
    reply = client.post("/pusher/user-auth", data={"socket_id": "1.2"})
    user_data = json.dumps({"id": user_id, "user_info": {"name": "Ada"}})
    assert reply.json == {"auth": sign(f"1.2::user::{user_data}"), "user_data": user_data}


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/pusher/auth", {"socket_id": "1.2", "channel_name": "presence-chat"}),
        ("/pusher/user-auth", {"socket_id": "1.2"}),
    ],
)
def test_nothing_is_signed_before_login(client: FlaskClient, path: str, form: dict) -> None:
    assert client.post(path, data=form).status_code == 403


def test_channels_outside_the_chat_are_refused(client: FlaskClient) -> None:
    login(client)
    form = {"socket_id": "1.2", "channel_name": "private-admin"}
    assert client.post("/pusher/auth", data=form).status_code == 403


@pytest.mark.parametrize("name", ["", "   ", "x" * 33])
def test_login_needs_a_short_name(client: FlaskClient, name: str) -> None:
    assert client.post("/login", data={"name": name}).status_code == 400


@pytest.mark.parametrize("body", [{}, {"text": " "}, {"text": "x" * 501}])
def test_messages_need_text(client: FlaskClient, body: dict) -> None:
    login(client)
    assert client.post("/messages", json=body).status_code == 400
