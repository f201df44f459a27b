"""examples/laravel-echo: Laravel Echo's pusher broadcaster works against Socket Rush unchanged.

`demo.js` joins a presence channel with two Echo clients (authorized by an endpoint signing
with the official `pusher` SDK), whispers, and listens for an event this test publishes through
the HTTP API once both clients are in.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator

import pusher
import pytest

from tests.support.auth_endpoint import CHANNEL_AUTH_PATH, AuthEndpoint
from tests.support.examples import APP_ID, APP_KEY, APP_SECRET, EXAMPLES_DIR
from tests.support.npm import npm_install
from tests.support.server import ServerProcess

ECHO_DIR = EXAMPLES_DIR / "laravel-echo"
DEADLINE_S = 30


@pytest.fixture(scope="module")
def sdk(server: ServerProcess) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=APP_ID, key=APP_KEY, secret=APP_SECRET, host="127.0.0.1", port=server.port, ssl=False
    )


@pytest.fixture(scope="module")
def auth_endpoint(sdk: pusher.Pusher) -> Iterator[AuthEndpoint]:
    with AuthEndpoint(sdk, forger=sdk) as endpoint:
        yield endpoint


def test_presence_whisper_and_broadcast_through_echo(
    server: ServerProcess, sdk: pusher.Pusher, auth_endpoint: AuthEndpoint
) -> None:
    npm_install(ECHO_DIR, "laravel-echo")
    env = {
        **os.environ,
        "VITE_PUSHER_APP_KEY": APP_KEY,
        "VITE_PUSHER_HOST": "127.0.0.1",
        "VITE_PUSHER_PORT": str(server.port),
        "VITE_PUSHER_SCHEME": "http",
        "AUTH_ENDPOINT": auth_endpoint.url(CHANNEL_AUTH_PATH),
    }
    demo = subprocess.Popen(
        ["node", "demo.js"],
        cwd=ECHO_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(DEADLINE_S, demo.kill)  # a hung demo fails instead of hanging
    watchdog.start()
    observations = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            observations.append(json.loads(line))
            if observations[-1]["event"] == "ready":
                sdk.trigger("presence-chat", "message", {"text": "hello from Laravel"})
        status = demo.wait()
    finally:
        watchdog.cancel()
    assert status == 0, (
        f"demo.js failed: {observations}\n{demo.stderr.read() if demo.stderr else ''}"
    )

    # Alice is alone at first and Bob leaving ends the demo; in between, events reach two
    # sockets from several senders, so only their set is fixed.
    message = {"text": "hello from Laravel"}
    assert observations[0] == {"event": "here", "client": "Alice", "users": ["Alice"]}
    assert sorted(map(json.dumps, observations[1:-1])) == sorted(
        map(
            json.dumps,
            [
                {"event": "joining", "client": "Alice", "user": "Bob"},
                {"event": "here", "client": "Bob", "users": ["Alice", "Bob"]},
                {"event": "ready"},
                {"event": "whisper", "client": "Alice", "data": {"name": "Bob"}},
                {"event": "message", "client": "Alice", "data": message},
                {"event": "message", "client": "Bob", "data": message},
            ],
        )
    )
    assert observations[-1] == {"event": "leaving", "client": "Alice", "user": "Bob"}
