"""Every HTTP error is JSON ``{"error": ...}`` with the status of its row in the error table:
the views' own, Werkzeug's (unknown route, wrong method, unreadable body), the actor
runtime's (a full or stopped app), and an unexpected exception's."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from socketrush.config import load_settings
from socketrush.http.api import create_flask_app
from socketrush.node import Node
from tests.support.http_api import EVENTS, raw_request, signed_query
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess

JSON = "application/json"


# -- Werkzeug's errors, from a real server --


def test_unknown_path_is_a_json_404(server: ServerProcess) -> None:
    status, headers, body = raw_request(server, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, headers["Content-Type"], body) == (404, JSON, b'{"error":"Not found"}')


def test_wrong_method_is_a_json_405_naming_the_allowed_ones(server: ServerProcess) -> None:
    status, headers, body = raw_request(server, f"GET {EVENTS} HTTP/1.1\r\n\r\n".encode())
    assert (status, headers["Content-Type"], body) == (
        405,
        JSON,
        b'{"error":"Method not allowed"}',
    )
    assert headers["Allow"] == "OPTIONS, POST"


def test_doubled_slash_is_not_redirected_to_a_path_nobody_signed(server: ServerProcess) -> None:
    """Werkzeug merges slashes with a 308 and an HTML body by default."""
    status, headers, body = raw_request(
        server, f"POST /apps//{APP_ID}/events HTTP/1.1\r\nContent-Length: 0\r\n\r\n".encode()
    )
    assert (status, headers["Content-Type"], body) == (404, JSON, b'{"error":"Not found"}')
    assert "Location" not in headers


def test_malformed_chunked_body_is_a_json_400(server: ServerProcess) -> None:
    request = f"POST {EVENTS} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    status, headers, body = raw_request(server, request.encode())
    assert (status, headers["Content-Type"], body) == (400, JSON, b'{"error":"Bad request"}')


def test_channel_path_with_a_slash_is_unknown(server: ServerProcess) -> None:
    path = f"/apps/{APP_ID}/channels/a/b"
    query = "&".join(f"{k}={v}" for k, v in signed_query("GET", path).items())
    status, _, body = raw_request(server, f"GET {path}?{query} HTTP/1.1\r\n\r\n".encode())
    assert (status, body) == (404, b'{"error":"Not found"}')


# -- in process: failures no client can cause on demand --


def started_node(*flags: str) -> Node:
    """A real node of the test app, its actors on this process's hub."""
    argv = ["--env-file", os.devnull, "--app-id", APP_ID, "--app-key", APP_KEY]
    settings = load_settings([*argv, "--app-secret", APP_SECRET, *flags], environ={})
    node = Node(settings)
    node.start()
    return node


@pytest.fixture
def node() -> Iterator[Node]:
    started = started_node()
    yield started
    started.stop(1)


def trigger(flask_app: Flask, channels: list[str]) -> TestResponse:
    body = json.dumps({"name": "e", "channels": channels, "data": "d"}).encode()
    response = flask_app.test_client().post(
        EVENTS, query_string=signed_query("POST", EVENTS, body), data=body
    )
    assert response.mimetype == JSON
    return response


def test_publish_into_a_full_app_mailbox_is_a_429_to_retry() -> None:
    """The test client never yields to the hub, so the app actor drains nothing between the
    two requests: the second finds the one queued publish filling `publish_queue_limit`."""
    node = started_node("--publish-queue-limit", "1")
    try:
        flask_app = create_flask_app(node)
        accepted, refused = trigger(flask_app, ["a"]), trigger(flask_app, ["a", "b"])
    finally:
        node.stop(1)
    assert (accepted.status_code, accepted.get_json()) == (200, {})
    assert (refused.status_code, refused.get_json(), refused.headers["Retry-After"]) == (
        429,
        {"error": "App is overloaded: too many events queued, retry later"},
        "1",
    )


def test_publish_to_a_stopped_app_is_a_503(node: Node) -> None:
    app = node.app_by_id(APP_ID)
    app.stop()
    response = trigger(create_flask_app(node), ["a"])
    assert (response.status_code, response.get_json()) == (
        503,
        {"error": "App is unavailable, retry later"},
    )


def test_query_of_a_stopped_app_is_a_503(node: Node) -> None:
    app = node.app_by_id(APP_ID)
    app.stop()
    path = f"/apps/{APP_ID}/channels"
    response = (
        create_flask_app(node).test_client().get(path, query_string=signed_query("GET", path))
    )
    assert (response.status_code, response.get_json()) == (
        503,
        {"error": "App is unavailable, retry later"},
    )


def test_unexpected_exception_is_a_json_500_with_its_traceback_logged(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    flask_app = create_flask_app(node)

    @flask_app.get("/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR):
        response = flask_app.test_client().get("/broken")
    assert (response.status_code, response.mimetype, response.get_json()) == (
        500,
        JSON,
        {"error": "Internal server error"},
    )
    assert any(record.exc_info and "a bug" in str(record.exc_info[1]) for record in caplog.records)
