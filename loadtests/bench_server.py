"""The server under benchmark: one `socketrush serve` pinned to one CPU, and its /proc figures.

`taskset` execs the server, so the child's pid is the server's own and /proc/PID gives its RSS
and CPU time directly. Only the process started here is ever signalled.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

APP_ID = "424242"
APP_KEY = "test-key"
APP_SECRET = "test-secret"
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process; the fields after `(comm)` are split (comm may hold spaces)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def stop_process(process: subprocess.Popen | None, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; nothing if it already exited."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def raise_open_files(needed: int) -> int:
    """Raise this process's open-files limit (children inherit it); returns the soft limit.

    The soft limit goes to `needed`, or to the hard limit when that is lower and the hard
    limit cannot be raised (raising it needs CAP_SYS_RESOURCE); callers check the result.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed
        except (ValueError, OSError):
            pass  # keep the hard limit we have
    target = max(soft, needed) if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


@dataclass
class PinnedServer:
    """Start with `with PinnedServer(binary) as server:`; stopped (TERM, then KILL) on exit."""

    binary: Path
    cpu: int = 0
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    extra: tuple[str, ...] = ()  # more `serve` flags, e.g. a lower backlog limit
    certificate: tuple[Path, Path] | None = None  # (cert, key): serve wss/https with it

    def command(self) -> list[str]:
        return [
            "taskset", "-c", str(self.cpu), str(self.binary), "serve",
            "--port", str(self.port), "--bind-address", HOST, "--env-file", os.devnull,
            "--app-id", APP_ID, "--app-key", APP_KEY, "--app-secret", APP_SECRET,
            "--app-enable-client-messages", "true", *self.extra, *self._tls_flags(),
        ]  # fmt: skip

    def _tls_flags(self) -> list[str]:
        if self.certificate is None:
            return []
        cert, key = self.certificate
        return ["--ssl-cert", str(cert), "--ssl-key", str(key)]

    def start(self, timeout: float = 15.0) -> PinnedServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "PORT"))}
        env["LOG_LEVEL"] = "warn"
        self.process = subprocess.Popen(self.command(), env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with status {self.process.returncode}")
            try:
                with self._probe():
                    return self
            except OSError:
                time.sleep(0.05)  # the port is not bound yet: there is no event to wait on
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s")

    def _probe(self):
        """GET / over http, or https trusting our certificate."""
        if self.certificate is None:
            return urllib.request.urlopen(f"http://{HOST}:{self.port}/", timeout=1)
        context = ssl.create_default_context(cafile=str(self.certificate[0]))
        return urllib.request.urlopen(f"https://{HOST}:{self.port}/", timeout=1, context=context)

    def rss_bytes(self) -> int:
        assert self.process is not None
        return proc_rss_bytes(self.process.pid)

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return proc_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> PinnedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
