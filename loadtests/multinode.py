"""The processes of a multi-node benchmark: a Redis, Socket Rush or soketi nodes on it, pinned.

Every process is started here with `taskset` exec'ing the program (so its pid is the program's
own and /proc/PID gives its CPU and RSS), in its own session, on 127.0.0.1, and only processes
started here are ever signalled (TERM, then KILL after 5 s). `BenchHome` is a writable copy of
`../shared/bench` and `../shared/peers` (read-only there), with their npm packages installed
once, as `compare.sh` makes it: soketi runs from that copy, and the Node generator borrows the
shared generator's modules from it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import urllib.request
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from bench_server import HOST, free_port, proc_cpu_seconds, proc_rss_bytes, stop_process

APP_ID, APP_KEY, APP_SECRET = "app-id", "app-key", "app-secret"  # the shared bench's app
ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout (or beside its worktrees' folder): the soketi bench and peers
SHARED = next(
    (p / "shared" for p in ROOT.parents if (p / "shared" / "bench").is_dir()), ROOT.parent
)
START_TIMEOUT = 30.0


@dataclass
class Pinned:
    """One program pinned to `cpus`, started by `start()`, stopped by `stop()`."""

    name: str
    command: list[str]
    cpus: str = "0"
    env: dict[str, str] | None = None
    cwd: Path | None = None
    log: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Pinned:
        """The child gets its own copy of the log's descriptor; ours is closed at once, or
        a run starting many programs would keep one open per program until it ends."""
        with open(self.log, "ab") if self.log else nullcontext(subprocess.DEVNULL) as out:
            self.process = subprocess.Popen(
                ["taskset", "-c", self.cpus, *self.command],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return proc_rss_bytes(self.pid)

    def stop(self) -> None:
        stop_process(self.process)


def await_http(program: Pinned, port: int, path: str = "/", timeout: float = START_TIMEOUT) -> None:
    """Poll until `path` answers 2xx: a starting server signals nothing else."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if program.exited():
            raise RuntimeError(f"{program.name} exited at start (log: {program.log})")
        try:
            urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=1).close()
            return
        except OSError:  # not listening yet, or an HTTPError (503 while not ready)
            time.sleep(0.05)
    raise RuntimeError(f"{program.name} did not answer on {port} within {timeout}s")


@dataclass
class Redis:
    """A throw-away redis-server (no persistence) in its own temp dir."""

    cpus: str = "0"
    port: int = field(default_factory=free_port)
    program: Pinned | None = None
    workdir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.workdir = Path(tempfile.mkdtemp(prefix="socketrush-multinode-redis-"))
        command = [binary, "--port", str(self.port), "--bind", HOST, "--dir", str(self.workdir)]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.program = Pinned("redis", command, self.cpus, log=self.workdir / "log").start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.program.exited():
                raise RuntimeError(f"redis-server exited: {(self.workdir / 'log').read_text()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass  # not listening yet
            time.sleep(0.05)  # or not ready (-LOADING): ask again shortly, not in a busy loop
        raise RuntimeError("redis-server did not answer PING")

    def command(self, *words: str) -> bytes:
        """One inline command and its raw reply (enough for INFO and CONFIG here)."""
        with socket.create_connection((HOST, self.port), timeout=5) as probe:
            probe.sendall(" ".join(words).encode() + b"\r\n")
            reply = probe.recv(1 << 20)
            if reply.startswith(b"$"):
                size = int(reply[1 : reply.index(b"\r\n")])
                while len(reply) < reply.index(b"\r\n") + 2 + size:
                    reply += probe.recv(1 << 20)
            return reply

    def stop(self) -> None:
        if self.program is not None:
            self.program.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Redis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def socketrush_node(
    name: str,
    redis: Redis,
    prefix: str,
    cpus: str = "0",
    binary: Path = ROOT / ".venv/bin/socketrush",
    extra: tuple[str, ...] = (),
    log: Path | None = None,
) -> tuple[Pinned, int]:
    """A `socketrush serve` on the Redis adapter (cache and queue stay local, as soketi's do
    in the shared benchmark's config); returns the program and its port."""
    port = free_port()
    command = [
        str(binary), "serve", "--port", str(port), "--bind-address", HOST,
        "--env-file", os.devnull, "--app-id", APP_ID, "--app-key", APP_KEY,
        "--app-secret", APP_SECRET, "--app-enable-client-messages", "true",
        "--adapter-driver", "redis", "--redis-url", redis.url, "--redis-prefix", prefix, *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "PORT", "REDIS_"))}
    env["LOG_LEVEL"] = "warn"
    return Pinned(name, command, cpus, env=env, log=log).start(), port


@dataclass
class BenchHome:
    """A writable copy of the shared bench and peers, with npm packages installed once."""

    path: Path

    @property
    def gen_dir(self) -> Path:
        return self.path / "bench" / "gen"

    @property
    def soketi_dir(self) -> Path:
        return self.path / "peers" / "soketi"

    def prepare(self, shared: Path = SHARED) -> BenchHome:
        for part in ("bench", "peers"):
            source, target = shared / part, self.path / part
            shutil.copytree(
                source,
                target,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("node_modules", "results", "logs"),
            )
            for folder, dirs, files in os.walk(target):  # copied read-only: make it ours
                dirs[:] = [d for d in dirs if d != "node_modules"]
                for entry in [folder, *(os.path.join(folder, f) for f in files)]:
                    os.chmod(entry, os.stat(entry).st_mode | stat.S_IWUSR)
        if not (self.soketi_dir / "node_modules" / "@soketi" / "soketi").is_dir():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=self.soketi_dir,
                           check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        return self

    def soketi_node(
        self, name: str, redis: Redis, prefix: str, cpus: str = "0", log: Path | None = None
    ) -> tuple[Pinned, int]:
        """soketi 1.6.1 on its Redis adapter: the shared bench's config (local cache, sync
        queue, user authentication off) with the adapter and the port changed; node-discover's
        UDP heartbeat gets a free loopback port of its own."""
        port = free_port()
        config = json.loads((self.path / "bench/servers/soketi-config.json").read_text())
        config.update({
            "port": port,
            "adapter.driver": "redis",
            "adapter.redis.prefix": prefix,
            "database.redis.host": HOST,
            "database.redis.port": redis.port,
            "cluster.port": free_port(socket.SOCK_DGRAM),
        })  # fmt: skip
        config_file = self.path / f"soketi-{name}-{port}.json"
        config_file.write_text(json.dumps(config, indent=2))
        entry = self.soketi_dir / "node_modules/@soketi/soketi/bin/server.js"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOKETI_", "UWS_"))}
        env["AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE"] = "1"
        self._check_native_uws(env)
        command = ["node", str(entry), "start", f"--config={config_file}"]
        return Pinned(name, command, cpus, env=env, cwd=self.soketi_dir, log=log).start(), port

    def _check_native_uws(self, env: dict[str, str]) -> None:
        """soketi's uWS fork silently falls back to a slow pure-JS server without its addon."""
        probe = (
            "require('./node_modules/uWebSockets.js/binaries/uws_'+process.platform+'_'"
            "+process.arch+'_'+process.versions.modules+'.node')"
        )
        done = subprocess.run(["node", "-e", probe], cwd=self.soketi_dir, env=env,
                              capture_output=True)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError("soketi's native uWebSockets.js addon does not load; refusing")
