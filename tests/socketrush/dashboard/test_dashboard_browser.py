"""End to end: the dashboard in headless Chromium, against a real server, with two pusher-js
clients in their own pages.

It logs in (HTTP Basic), opens the app, sees both connections, their subscriptions and the
presence members appear, sends an event from the event creator that a client page receives
and the debug console shows, and sees a member leave when its page closes. Nothing the
dashboard page receives (HTTP bodies, WebSocket frames) holds the app secret. Screenshots go
to test-artifacts/ (docs/dashboard.png is one of them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.npm import npm_install
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, REPO_ROOT, ServerProcess

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
PUSHER_JS = REPO_ROOT / "socketrush" / "dashboard" / "static" / "vendor" / "pusher.min.js"
USERNAME, PASSWORD = "admin", "a dashboard password"
SCENARIO_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def playwright() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    if shutil.which("node") is None:
        pytest.fail("node is required for the browser test (apt-get install nodejs npm)")
    npm_install(HERE, "playwright-core")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    args = ["--dashboard-enabled", "true", "--dashboard-username", USERNAME]
    args += ["--dashboard-password", PASSWORD]
    with ServerProcess(args=args) as proc:
        yield proc


def run_scenario(server: ServerProcess) -> list[dict]:
    for stale in ARTIFACTS.glob("dashboard-*.png"):  # the checks below see this run's files
        stale.unlink()
    config = {
        "baseUrl": server.http_url,
        "appId": APP_ID,
        "appKey": APP_KEY,
        "appSecret": APP_SECRET,
        "username": USERNAME,
        "password": PASSWORD,
        "pusherJs": str(PUSHER_JS),
        "chromium": str(CHROMIUM),
        "artifactsDir": str(ARTIFACTS),
        "timeoutMs": 15_000,
    }
    result = subprocess.run(
        ["node", str(HERE / "dashboard_browser.js"), json.dumps(config)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT_S,
    )
    observations = [json.loads(line) for line in result.stdout.splitlines() if line]
    assert result.returncode == 0, (
        f"browser scenario failed:\n{result.stdout}\n--- browser console ---\n"
        f"{result.stderr[-4000:]}\n--- socket rush ---\n{server.log()[-4000:]}"
    )
    return observations


def test_dashboard_in_chromium(playwright: None, server: ServerProcess) -> None:
    assert run_scenario(server) == [
        {"event": "opened", "title": f"App {APP_ID}"},
        # the dashboard's own socket is not counted among the app's connections
        {
            "event": "figures",
            "connections": "2",
            "channels": "2",
            "members": "2",
            "roster": ["alice", "bob"],
        },
        {"event": "log", "connected": [True, True], "subscribed": 2},
        {
            "event": "event",
            "received": [{"text": "hello from the dashboard"}],
            "console": ['API event greeting on news: {"text": "hello from the dashboard"}'],
        },
        {"event": "left", "roster": ["alice"]},
        {"event": "after", "connections": "1"},
        {"event": "secret", "checkedBodies": True, "checkedFrames": True, "leaks": []},
    ]
    for name in ("two-clients", "after-bob-left"):
        assert (ARTIFACTS / f"dashboard-{name}.png").stat().st_size > 0
