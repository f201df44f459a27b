"""Real Redis servers for tests: standalone, a 3-master cluster and TLS, on free loopback ports.

Each server runs in its own temp dir and process group with persistence off, and is stopped by
killing that group. A missing `redis-server` fails the tests with a message naming `.ci/run`,
which installs it; nothing is skipped.

Use the pytest fixtures `redis_server`, `redis_cluster` and `redis_tls` (module scope) by
importing them into a conftest.py, or the classes as context managers.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest
import redis

from socketrush.config import load_settings
from socketrush.settings import ServerSettings
from tests.support.polling import wait_until
from tests.support.server import free_port

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
READY_MARKER = "Ready to accept connections"
INSTALL_HINT = "run .ci/run (it installs redis-server) or apt-get install redis-server"


def redis_settings(
    url: str, *, prefix: str = "pusher", tls: bool = False, cluster: bool = False
) -> ServerSettings:
    """Shipped-default server settings with these Redis values, as `--redis-*` flags give them."""
    base = load_settings(["--env-file", os.devnull], environ={}, server_only=True)
    return dataclasses.replace(
        base, redis_url=url, redis_prefix=prefix, redis_tls=tls, redis_cluster=cluster
    )


class RedisUnavailable(RuntimeError):
    """A test Redis could not be started; the message says why and what to do."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RedisUnavailable(f"{name} not found in PATH: {INSTALL_HINT}")
    return found


class RedisServer:
    """One `redis-server` process; `.url` reaches it.

    `restart()` brings up a fresh, empty server on the same port, as after an outage.
    """

    def __init__(self, port: int | None = None, extra_args: Sequence[str] = ()) -> None:
        self.port = port if port is not None else free_port()
        # A port picked here may be taken before the first start binds it (by an outgoing
        # connection's ephemeral port): that start picks another. `restart` keeps the port.
        self._may_move = port is None
        self.extra_args = list(extra_args)
        self.log: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._workdir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> redis.Redis:
        """A plain client of this one server, e.g. for inspecting what a test wrote."""
        return redis.Redis.from_url(self.url, **kwargs)

    def server_args(self, workdir: Path) -> list[str]:
        """How the server listens; subclasses change it (TLS) and may write files to `workdir`."""
        return ["--port", str(self.port)]

    def start(self) -> RedisServer:
        """Start the server and return once it answers PING; raises RedisUnavailable."""
        tries_left = 3
        while True:
            try:
                self._launch()
                break
            except RedisUnavailable as problem:
                tries_left -= 1
                if not (self._may_move and tries_left and "Address already in use" in str(problem)):
                    raise
                self.port = free_port()
        self._may_move = False
        return self

    def _launch(self) -> None:
        binary = _binary("redis-server")
        self._workdir = Path(tempfile.mkdtemp(prefix="socketrush-redis-"))
        command = [
            binary,
            *self.server_args(self._workdir),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self._workdir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            "",
            *self.extra_args,
        ]
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, killed as a whole by stop()
        )
        self._await_ready()

    def stop(self) -> None:
        """Kill the server's process group and remove its temp dir; safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def restart(self) -> RedisServer:
        """Stop, then start an empty server on the same port."""
        self.stop()
        return self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _await_ready(self) -> None:
        """Wait for the ready line in the server's log, then for PING, within one deadline.

        A thread keeps draining the log (so the pipe never fills) and hands each line over.
        """
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
                self._fail("did not become ready")
            if READY_MARKER in line:
                break
        try:
            client = redis.Redis.from_url(self.url, socket_timeout=STARTUP_TIMEOUT)
            client.ping()
            client.close()
        except redis.RedisError as error:
            self._fail(f"did not answer PING: {error}")

    def _fail(self, what: str) -> None:
        tail = "\n".join(self.log[-20:])
        self.stop()
        raise RedisUnavailable(f"redis-server on port {self.port} {what}:\n{tail}")


class RedisTls(RedisServer):
    """A TLS-only server with a throw-away CA; `.url` trusts exactly that CA."""

    def server_args(self, workdir: Path) -> list[str]:
        self.ca_cert = make_certificates(workdir)
        return [
            "--port",
            "0",
            "--tls-port",
            str(self.port),
            "--tls-cert-file",
            str(workdir / "server.crt"),
            "--tls-key-file",
            str(workdir / "server.key"),
            "--tls-ca-cert-file",
            str(self.ca_cert),
            "--tls-auth-clients",
            "no",
        ]

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}?ssl_ca_certs={quote(str(self.ca_cert))}"

    @property
    def insecure_url(self) -> str:
        """Trusts any certificate: the `ssl_cert_reqs=none` form for self-signed servers."""
        return f"rediss://127.0.0.1:{self.port}?ssl_cert_reqs=none"

    @property
    def unverified_url(self) -> str:
        """Verifies against the system CAs only, so this server's certificate is refused."""
        return f"rediss://127.0.0.1:{self.port}"


def make_certificates(workdir: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 signed by it; returns the CA file."""
    openssl = _binary("openssl")
    key_options = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    steps = [
        ["req", "-x509", *key_options, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2"]
        + ["-subj", "/CN=Socket Rush test CA"],
        ["req", *key_options, "-keyout", "server.key", "-out", "server.csr"]
        + ["-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key"]
        + ["-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext"],
    ]
    for step in steps:
        done = subprocess.run([openssl, *step], cwd=workdir, capture_output=True, text=True)
        if done.returncode != 0:
            raise RedisUnavailable(f"openssl {step[0]} failed: {done.stderr[-2000:]}")
    return workdir / "ca.crt"


class RedisCluster:
    """`masters` cluster-enabled servers joined into one cluster with no replicas.

    `.url` names one node; cluster clients discover the others from it.
    """

    def __init__(self, masters: int = 3) -> None:
        self._masters = masters
        self.nodes = self._new_nodes()

    def _new_nodes(self) -> list[RedisServer]:
        return [
            RedisServer(
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",  # inside the node's own --dir
                    "--cluster-port",  # the bus port; the default port+10000 may be taken
                    str(free_port()),
                    "--cluster-node-timeout",
                    "2000",
                ]
            )
            for _ in range(self._masters)
        ]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        """Start and join the nodes. Their 2 x `masters` ports are picked free before the
        first node starts; another process may take one meanwhile (an outgoing connection's
        ephemeral port), so a bind failure picks new ports and tries again, twice at most."""
        tries_left = 3
        while True:
            try:
                for node in self.nodes:
                    node.start()
                self._create()
                self._await_state_ok()
                return self
            except RedisUnavailable as problem:
                self.stop()
                tries_left -= 1
                if "Address already in use" not in str(problem) or not tries_left:
                    raise
                self.nodes = self._new_nodes()
            except BaseException:
                self.stop()
                raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _create(self) -> None:
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        command = [_binary("redis-cli"), "--cluster", "create", *addresses]
        command += ["--cluster-replicas", "0", "--cluster-yes"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=STARTUP_TIMEOUT)
        if done.returncode != 0:
            raise RedisUnavailable(f"redis-cli --cluster create failed: {done.stdout[-2000:]}")

    def _await_state_ok(self) -> None:
        """Poll CLUSTER INFO on every node: slot coverage spreads by gossip, with no event to
        wait on, so this is a bounded poll."""
        clients = {node.port: node.client() for node in self.nodes}
        waiting = list(clients)

        def all_ok() -> bool:
            waiting[:] = [
                p for p, c in clients.items() if c.cluster("INFO")["cluster_state"] != "ok"
            ]
            return not waiting

        try:
            wait_until(all_ok, STARTUP_TIMEOUT, lambda: "")
        except AssertionError:
            raise RedisUnavailable(f"cluster nodes {waiting} never reached state ok") from None
        finally:
            for client in clients.values():
                client.close()


Running = TypeVar("Running", RedisServer, RedisTls, RedisCluster)


def _started(server: Running) -> Iterator[Running]:
    try:
        server.start()
    except RedisUnavailable as problem:
        pytest.fail(str(problem), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A standalone Redis shared by a test module."""
    yield from _started(RedisServer())


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster shared by a test module."""
    yield from _started(RedisCluster())


@pytest.fixture(scope="module")
def redis_tls() -> Iterator[RedisTls]:
    """A TLS-only Redis with its own CA, shared by a test module."""
    yield from _started(RedisTls())
