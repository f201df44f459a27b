"""The example apps under test: where they live, the app they use, the chat backend's process."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import REPO_ROOT

EXAMPLES_DIR = REPO_ROOT / "examples"
EXAMPLE_TESTS_DIR = REPO_ROOT / "tests" / "examples"
# The official `pusher` SDK accepts numeric app ids only.
APP_ID = "123"
APP_KEY = "example-key"
APP_SECRET = "example-secret"


@dataclass
class ChatApp:
    """examples/chat/app.py as a child process on a free loopback port."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
