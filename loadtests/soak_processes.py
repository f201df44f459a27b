"""The processes a soak runs against: Socket Rush nodes, a Redis and a webhook receiver, each
a child of the soak on a free loopback port, each one the soak may kill, pause or restart.

Only processes started here are ever signalled, by their own pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
APP_ID, APP_KEY, APP_SECRET = "424242", "soak-key", "soak-secret"
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _await(ready, what: str, process: subprocess.Popen, timeout: float = START_TIMEOUT) -> None:
    """Poll `ready()` (another process: there is nothing to await) until true."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:g}s")
        time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Node:
    """One `socketrush serve` with metrics (and the heap census) on."""

    name: str
    workdir: Path
    flags: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "socketrush", "serve",
            "--port", str(self.port), "--bind-address", HOST, "--env-file", os.devnull,
            "--app-id", APP_ID, "--app-key", APP_KEY, "--app-secret", APP_SECRET,
            "--metrics-enabled", "true", "--metrics-port", str(self.metrics_port),
            "--metrics-count-objects", "true", *self.flags,
        ]  # fmt: skip

    def start(self) -> Node:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "PORT"))}
        env.setdefault("LOG_LEVEL", "warn")
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} ---\n".encode())
            self.process = subprocess.Popen(
                self.command(), cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1
        _await(lambda: _answers(self.http_url + "/ready"), self.name, self.process)
        return self

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye, as a crashed machine."""
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Redis:
    """A `redis-server` without persistence: a restart comes back empty, the harder case."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        command = [binary, "--port", str(self.port), "--bind", HOST, "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.workdir), "--logfile", ""]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _await(self._pings, "redis-server", self.process)
        return self

    def _pings(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)


@dataclass
class Receiver:
    """loadtests/webhook_receiver.py in its own process, so it can be paused for real."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hook"

    @property
    def records(self) -> Path:
        return self.workdir / "webhooks.jsonl"

    def start(self) -> Receiver:
        command = [sys.executable, "-m", "loadtests.webhook_receiver"]
        command += ["--port", str(self.port), "--out", str(self.records)]
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the webhook receiver did not start")
        return self

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)
