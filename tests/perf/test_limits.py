"""The open-files limit is raised to the hard limit at start-up, and the server says so."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from tests.support.server import ServerProcess

LOW_SOFT_LIMIT = 256
HARD_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

CHILD = """
import logging, resource, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from socketrush.limits import raise_file_limit
print(raise_file_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def lower_soft_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_SOFT_LIMIT, HARD_LIMIT))


def test_raise_file_limit_lifts_the_soft_limit_to_the_hard_limit() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        preexec_fn=lower_soft_limit,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.splitlines() == [
        f"raised the open-files limit from {LOW_SOFT_LIMIT} to {HARD_LIMIT}",
        f"({HARD_LIMIT}, {HARD_LIMIT}) ({HARD_LIMIT}, {HARD_LIMIT})",
    ]


def test_raise_file_limit_at_the_hard_limit_changes_nothing() -> None:
    def at_hard() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (HARD_LIMIT, HARD_LIMIT))

    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        preexec_fn=at_hard,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.splitlines()[0] == (
        f"open-files limit is {HARD_LIMIT} (already at the hard limit)"
    )


class LimitedServer(ServerProcess):
    """The server started under `prlimit`, which execs it: the pid is the server's own."""

    def command(self) -> list[str]:
        return ["prlimit", f"--nofile={LOW_SOFT_LIMIT}:{HARD_LIMIT}", "--", *super().command()]


def test_server_raises_its_open_files_limit_and_logs_it() -> None:
    with LimitedServer(env={"LOG_LEVEL": "info"}) as server:
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
        log = server.log()
    open_files = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert open_files.split()[3:5] == [str(HARD_LIMIT), str(HARD_LIMIT)]
    assert f"raised the open-files limit from {LOW_SOFT_LIMIT} to {HARD_LIMIT}" in log
