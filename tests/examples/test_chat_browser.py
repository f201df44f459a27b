"""End to end: two users in headless Chromium chat through examples/chat and Socket Rush.

Covers what the example promises: presence list, messages published through the HTTP API,
typing indicators as client events, an encrypted channel, user sign-in (a wave sent with
`send_to_user`) and a member leaving when their page closes. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.examples import EXAMPLE_TESTS_DIR, ChatApp
from tests.support.npm import npm_install
from tests.support.server import REPO_ROOT, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
SCENARIO_TIMEOUT_S = 55  # the brief's budget for a browser test is under a minute


@pytest.fixture(scope="module")
def playwright() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    if shutil.which("node") is None:
        pytest.fail("node is required for the browser test (apt-get install nodejs npm)")
    npm_install(EXAMPLE_TESTS_DIR, "playwright-core")


def run_scenario(chat_app: ChatApp, server: ServerProcess) -> list[dict]:
    for stale in ARTIFACTS.glob("chat-*.png"):  # so the screenshot checks see this run's files
        stale.unlink()
    config = {
        "chatUrl": chat_app.url,
        "chromium": str(CHROMIUM),
        "artifactsDir": str(ARTIFACTS),
        "timeoutMs": 15_000,
    }
    result = subprocess.run(
        ["node", str(EXAMPLE_TESTS_DIR / "chat_browser.js"), json.dumps(config)],
        cwd=EXAMPLE_TESTS_DIR,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT_S,
    )
    observations = [json.loads(line) for line in result.stdout.splitlines() if line]
    assert result.returncode == 0, (
        f"browser scenario failed:\n{result.stdout}\n--- browser console ---\n"
        f"{result.stderr[-4000:]}\n--- chat app ---\n{chat_app.log()[-4000:]}\n"
        f"--- socket rush ---\n{server.log()[-4000:]}"
    )
    return observations


def test_two_users_chat_in_chromium(
    playwright: None, chat_app: ChatApp, server: ServerProcess
) -> None:
    assert run_scenario(chat_app, server) == [
        {"event": "joined", "user": "Alice", "state": "connected"},
        {"event": "joined", "user": "Bob", "state": "connected"},
        {"event": "presence", "user": "Alice", "members": ["Alice", "Bob"], "count": "2"},
        {"event": "presence", "user": "Bob", "members": ["Alice", "Bob"], "count": "2"},
        {"event": "typing", "user": "Alice", "shows": "Bob is typing…"},
        {"event": "messages", "user": "Alice", "plain": ["Bob: Hello from Bob"]},
        {"event": "messages", "user": "Bob", "encrypted": ["Alice: Only for us"]},
        {"event": "wave", "user": "Bob", "shows": "Alice waved at you"},
        {"event": "presence", "user": "Alice", "members": ["Alice"], "count": "1"},
    ]
    for name in ("chat-Alice-chatting", "chat-Bob-chatting", "chat-Alice-after-bob-left"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 0
