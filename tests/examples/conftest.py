"""Fixtures for the examples: npm installs, a Socket Rush for the example apps, the chat backend.

The examples use the official `pusher` SDK, which accepts numeric app ids only, and client
events (typing indicators, whispers), so these tests run their own server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.examples import APP_ID, APP_KEY, APP_SECRET, EXAMPLES_DIR, ChatApp
from tests.support.npm import npm_install
from tests.support.polling import wait_until
from tests.support.server import ServerProcess, free_port


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """Overrides the shared server: the examples' numeric app, client events enabled."""
    args = ["--app-id", APP_ID, "--app-key", APP_KEY, "--app-secret", APP_SECRET]
    args += ["--app-enable-client-messages", "true"]
    with ServerProcess(args=args, with_default_app=False) as proc:
        yield proc


@pytest.fixture(scope="module")
def chat_app(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatApp]:
    """The chat example's Flask backend, pointed at `server` through its environment."""
    npm_install(EXAMPLES_DIR / "chat", "pusher-js")
    port = free_port()
    env = {
        **os.environ,
        "SOCKETRUSH_APP_ID": APP_ID,
        "SOCKETRUSH_APP_KEY": APP_KEY,
        "SOCKETRUSH_APP_SECRET": APP_SECRET,
        "SOCKETRUSH_HOST": "127.0.0.1",
        "SOCKETRUSH_PORT": str(server.port),
    }
    log_path = tmp_path_factory.mktemp("chat") / "chat.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=EXAMPLES_DIR / "chat",
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    app = ChatApp(process, port, log_path)
    try:
        _wait_until_serving(app)
        yield app
    finally:
        process.terminate()
        process.wait(10)


def _wait_until_serving(app: ChatApp, timeout: float = 15.0) -> None:
    def serving() -> bool:  # polling a port that is not yet bound: nothing to await
        if app.process.poll() is not None:
            pytest.fail(f"the chat example exited early:\n{app.log()}")
        try:
            with urllib.request.urlopen(app.url, timeout=1):
                return True
        except OSError:
            return False

    wait_until(serving, timeout, lambda: f"the chat example did not start:\n{app.log()}")
