"""Run the shell commands of a markdown page the way a newcomer would.

Fresh `bash` processes with a plain system PATH (no virtualenv, no PYTHONPATH), commands as
written except for ports, which tests swap for free loopback ports. Servers run in a session of
their own, so stopping one stops everything it started (make, its server, a trap's children).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.polling import wait_until

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHELL_LANGUAGES = ("bash", "sh", "shell", "console", "")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_COMMENT = re.compile(r"(^|\s+)#\s.*$|^\s*#.*$")


def code_blocks(markdown: str, *languages: str) -> list[str]:
    """The fenced blocks of `markdown` in one of `languages`, in order."""
    return [body for language, body in FENCE.findall(markdown) if language in languages]


def shell_blocks(markdown: str) -> list[str]:
    return code_blocks(markdown, *SHELL_LANGUAGES)


def command_lines(block: str) -> list[str]:
    """One entry per command: continuation lines joined, comments and blank lines dropped."""
    joined = block.replace("\\\n", " ")
    commands = (_COMMENT.sub("", line).strip() for line in joined.splitlines())
    return [" ".join(command.split()) for command in commands if command]


def with_ports(text: str, ports: Mapping[int, int]) -> str:
    """`text` with each documented port (a whole number) replaced by a test port."""
    for documented, actual in ports.items():
        text = re.sub(rf"(?<![\d.]){documented}(?!\d)", str(actual), text)
    return text


def newcomer_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a new login shell: system PATH, an empty HOME, nothing of ours."""
    return {
        "PATH": SYSTEM_PATH,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        **extra,
    }


def run_shell(
    script: str, *, cwd: Path, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh non-interactive bash that stops at the first failing command."""
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Background:
    """A shell script left running (a server), in a session of its own."""

    script: str
    cwd: Path
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen | None = field(default=None, init=False)

    def start(self) -> Background:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            ["bash", "-e", "-c", self.script],
            cwd=self.cwd,
            env=dict(self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the whole session, SIGKILL if it outlives `timeout`."""
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> Background:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for_ports(background: Background, ports: list[int], timeout: float) -> None:
    """Until every port accepts connections; fail with the script's output if it died."""

    def ready() -> bool:
        assert background.alive(), f"exited early:\n{background.output()}"
        return all(accepts(port) for port in ports)

    wait_until(ready, timeout, lambda: f"ports {ports} not open:\n{background.output()}")


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses with a socket listening on `port` (from /proc, no traffic)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port and len(address) == width:
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    """/proc/net/tcp writes addresses as little-endian 32-bit words."""
    raw = b"".join(
        bytes.fromhex(hex_address[i : i + 8])[::-1] for i in range(0, len(hex_address), 8)
    )
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
