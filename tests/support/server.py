"""Run a real Socket Rush server process on a free loopback port for end-to-end tests.

Tests talk to it over real sockets only; nothing in-process is shared, so a test passes only
when the server really works.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.support.polling import wait_until

APP_ID = "424242"  # the official Python SDK accepts numeric app ids only
APP_KEY = "test-key"
APP_SECRET = "test-secret"
REPO_ROOT = Path(__file__).resolve().parents[2]
PORT_ATTEMPTS = 3  # ports tried when another process takes the one `free_port` found


class PortTaken(RuntimeError):
    """The server could not listen: another process took its port after `free_port` found it
    free (other test runs share this machine)."""


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServerProcess:
    """One `socketrush serve` child process."""

    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    with_default_app: bool = True
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, key: str = APP_KEY, protocol: int | None = 7) -> str:
        query = f"?protocol={protocol}&client=test&version=1.0" if protocol is not None else ""
        return f"ws://127.0.0.1:{self.port}/app/{key}{query}"

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "socketrush",
            "serve",
            "--port",
            str(self.port),
            "--bind-address",
            "127.0.0.1",
            "--env-file",
            os.devnull,
        ]
        if self.with_default_app:
            cmd += ["--app-id", APP_ID, "--app-key", APP_KEY, "--app-secret", APP_SECRET]
        return cmd + list(self.args)

    def start(self, timeout: float = 15.0) -> ServerProcess:
        """Start the server and return once it listens on its port; if another process took
        that port meanwhile, start again on another one."""
        for _ in range(PORT_ATTEMPTS - 1):
            try:
                return self._start(timeout)
            except PortTaken:
                self.port = free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "PORT"))}
        env.update(self.env)
        env.setdefault("LOG_LEVEL", "warn")
        # Named for the port, and unique: a process of another test run on this port (see
        # PortTaken) keeps its own log.
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (the server process writes to it)
            prefix=f"socketrush-test-{self.port}-", suffix=".log", delete=False
        )
        self.log_path = Path(log.name)
        self.process = subprocess.Popen(
            self.command(), cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

        def listening() -> bool:  # polling a port that is not yet bound: nothing to await
            if self.process.poll() is not None:
                log = self.log()
                if f"cannot listen on 127.0.0.1:{self.port}: [Errno 98]" in log:
                    raise PortTaken(f"server exited early, its port taken:\n{log}")
                raise RuntimeError(f"server exited early:\n{log}")
            try:
                with self.probe():
                    return self.listens()
            except OSError:
                return False

        try:
            wait_until(listening, timeout, lambda: "")
        except AssertionError:
            self.stop()
            raise RuntimeError(f"server did not start within {timeout}s:\n{self.log()}") from None
        return self

    def probe(self):
        """GET / (the readiness probe of `start`)."""
        return urllib.request.urlopen(self.http_url + "/", timeout=1)

    def listens(self) -> bool:
        """Whether the port is this process's. `free_port` only finds a port free: until the
        server binds it, another process (another test run on the machine) may take it, and
        the probe would then be answered by that one while this server fails to listen. A
        test would talk to someone else's server (a login answered 404 without a cookie)."""
        assert self.process is not None
        try:
            sockets = psutil.Process(self.process.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(s.status == psutil.CONN_LISTEN and s.laddr.port == self.port for s in sockets)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class TlsServerProcess(ServerProcess):
    """A ServerProcess serving wss/https with `certificate` (cert, key); `cafile` trusts it."""

    certificate: tuple[Path, Path] | None = None

    @property
    def cafile(self) -> str:
        assert self.certificate is not None
        return str(self.certificate[0])

    def command(self) -> list[str]:
        assert self.certificate is not None
        cert, key = self.certificate
        return [*super().command(), "--ssl-cert", str(cert), "--ssl-key", str(key)]

    def probe(self):
        context = ssl.create_default_context(cafile=self.cafile)
        return urllib.request.urlopen(self.http_url + "/", timeout=1, context=context)

    @property
    def http_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ws_url(self, key: str = APP_KEY, protocol: int | None = 7) -> str:
        return super().ws_url(key, protocol).replace("ws://", "wss://")
