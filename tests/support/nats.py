"""Real NATS servers for tests: Debian's `nats-server` with JetStream, on a free loopback port.

Each server keeps its JetStream store in a temp dir of its own. `restart()` brings it back on
the same port with that store (as after a crash), `restart(empty=True)` with a new one (as
after losing its disk). `pause()` freezes it (SIGSTOP: connections stay open, nothing is
answered) until `resume()` or a stop. A missing `nats-server` fails the tests with a message naming
`.ci/run`, which installs it; nothing is skipped.

`NatsTls` serves TLS only, with a throw-away CA (`ca_cert`) that signed its certificate.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from tests.support.redis import make_certificates
from tests.support.server import free_port

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
READY_MARKER = "Server is ready"
INSTALL_HINT = "run .ci/run (it installs nats-server) or apt-get install nats-server"


class NatsUnavailable(RuntimeError):
    """A test NATS could not be started; the message says why and what to do."""


class NatsServer:
    """One `nats-server -js` process; `.url` reaches it."""

    scheme = "nats"

    def __init__(self, config: str = "") -> None:
        """`config`: nats-server configuration text (limits, say), given with `-c`."""
        self.config = config
        self.port = free_port()
        self.log: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="socketrush-nats-"))
        self._store = self._workdir / "jetstream"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def server_args(self) -> list[str]:
        """How the server listens; the TLS subclass adds its certificate."""
        return []

    def start(self) -> NatsServer:
        binary = shutil.which("nats-server") or (
            "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
        )
        if binary is None:
            raise NatsUnavailable(f"nats-server not found: {INSTALL_HINT}")
        command = [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self._store)]
        if self.config:
            config_file = self._workdir / "nats.conf"
            config_file.write_text(self.config)
            command += ["-c", str(config_file)]
        self._process = subprocess.Popen(
            [*command, *self.server_args()],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._await_ready()
        return self

    def stop(self) -> None:
        """Kill the server (its store stays for a restart); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)

    def pause(self) -> None:
        """Freeze the server: its clients stay connected and get no answer (no PONG)."""
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused server: it answers what came meanwhile (late PONGs included)."""
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGCONT)

    def restart(self, empty: bool = False) -> NatsServer:
        self.stop()
        if empty:
            shutil.rmtree(self._store, ignore_errors=True)
        return self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def run(self, work):
        """Run `work(client)` (a coroutine function) with a client of this server, here."""

        async def main():
            client = await nats.connect(self.url, **self.client_options())
            try:
                return await work(client)
            finally:
                await client.close()

        return asyncio.run(main())

    def client_options(self) -> dict:
        return {}

    def _await_ready(self) -> None:
        assert self._process is not None
        process = self._process
        lines: queue.Queue[str | None] = queue.Queue()

        def drain() -> None:
            for line in process.stdout:  # type: ignore[union-attr]
                self.log.append(line.rstrip())
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                tail = "\n".join(self.log[-20:])
                self.stop()
                raise NatsUnavailable(f"nats-server on port {self.port} did not start:\n{tail}")
            if READY_MARKER in line:
                return


class NatsTls(NatsServer):
    """TLS only, with its own CA: nodes need `--adapter-nats-tls-ca-file ca_cert`."""

    scheme = "tls"

    def server_args(self) -> list[str]:
        self.ca_cert = make_certificates(self._workdir)
        return [
            "--tls",
            "--tlscert",
            str(self._workdir / "server.crt"),
            "--tlskey",
            str(self._workdir / "server.key"),
        ]

    def client_options(self) -> dict:
        import ssl

        return {"tls": ssl.create_default_context(cafile=str(self.ca_cert))}


def _started(server: NatsServer) -> Iterator[NatsServer]:
    try:
        server.start()
    except NatsUnavailable as problem:
        pytest.fail(str(problem), pytrace=False)
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    """A JetStream-enabled NATS shared by a test module."""
    yield from _started(NatsServer())


@pytest.fixture(scope="module")
def nats_tls() -> Iterator[NatsServer]:
    """A TLS-only JetStream NATS with its own CA, shared by a test module."""
    yield from _started(NatsTls())
