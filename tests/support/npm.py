"""npm packages for tests that drive official JavaScript clients from Node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def npm_install(directory: Path, marker: str) -> None:
    """`npm ci` in `directory` unless node_modules/<marker> exists; failures fail the test."""
    if (directory / "node_modules" / marker).is_dir():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("node and npm are required (apt-get install nodejs npm, or run .ci/run)")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"npm ci in {directory} failed:\n{result.stdout}{result.stderr}")
