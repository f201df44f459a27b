"""Many idle subscribed connections on one server process: how much RSS and CPU they cost.

    .venv/bin/python loadtests/idle_connections.py > idle.json   # JSON on stdout, table on stderr

The server is a fresh `socketrush serve` pinned to CPU 0 (see bench_server.py); the clients run
on CPU 1 in as many child processes as their open-files limit requires, each started with
`--clients-only`. They open --connections (20,000) loopback sockets, at most --window
handshakes in flight per child, spread over source addresses 127.0.0.x (PER_SOURCE each) so no
address runs out of ephemeral ports. Each subscribes to one of --channels public channels; then
all idle for --hold-seconds while the server's CPU time is measured. The open-files limit is
raised first (children inherit it): the soft limit to the hard one, and the hard one too when
the process may (root with CAP_SYS_RESOURCE).

`--tls` serves wss with a throw-away certificate (what TLS adds per connection).
`--serve-args "--adapter-driver redis --redis-url ..."` passes more flags to `serve` (a node
of a multi-node deployment: loadtests/scale_costs.py).

`--clients-only --port P` opens sockets against a running server, prints `ready <opened>
failed <count>` and holds them until stdin closes (loadtests/memprofile.py uses it too).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from bench_server import APP_KEY, HOST, PinnedServer, raise_open_files  # noqa: E402
from certificates import client_context, make_certificate  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from rawws import RawPusher  # noqa: E402

GENERATOR_CPU = 1
PER_SOURCE = 5000  # connections per source address; the ephemeral range holds ~28,000
FD_HEADROOM = 64  # descriptors a process needs besides its connections (listener, logs, ...)


def open_idle(
    port: int, first: int, count: int, channels: int, window: int, cafile: str | None = None
) -> tuple[list[RawPusher], int]:
    """Open and subscribe sockets `first`..`first + count - 1` (over TLS trusting `cafile`,
    if given); returns them and the failures."""
    opened: list[RawPusher] = []
    failures = 0
    tls = client_context(cafile) if cafile is not None else None

    def one(index: int) -> None:
        nonlocal failures
        try:
            source = f"127.0.0.{1 + index // PER_SOURCE}"
            sock = RawPusher(HOST, port, APP_KEY, source=source, tls=tls)
            sock.send("pusher:subscribe", {"channel": f"idle-{index % channels}"})
            sock.next_event("pusher_internal:subscription_succeeded")
            opened.append(sock)
        except (OSError, TimeoutError):
            failures += 1

    pool = Pool(window)
    for index in range(first, first + count):
        pool.spawn(one, index)
    pool.join(timeout=300)
    pool.kill()
    return opened, failures


def clients_only(args: argparse.Namespace) -> None:
    sockets, failures = open_idle(
        args.port, args.first, args.connections, args.channels, args.window, args.tls_ca
    )
    print(f"ready {len(sockets)} failed {failures}", flush=True)
    gevent.get_hub().threadpool.apply(sys.stdin.read)  # hold until the parent closes stdin
    for sock in sockets:
        sock.close()


def start_clients(
    args: argparse.Namespace, port: int, fd_limit: int, cafile: Path | None
) -> list[subprocess.Popen]:
    """Children sharing the connections evenly, none over its open-files limit."""
    children = math.ceil(args.connections / (fd_limit - FD_HEADROOM))
    share = math.ceil(args.connections / children)
    started = []
    for first in range(0, args.connections, share):
        command = [
            sys.executable, __file__, "--clients-only", "--port", str(port),
            "--first", str(first), "--connections", str(min(share, args.connections - first)),
            "--channels", str(args.channels), "--window", str(args.window),
            "--max-seconds", str(args.max_seconds),
            *(["--tls-ca", str(cafile)] if cafile is not None else []),
        ]  # fmt: skip
        started.append(
            subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        )
    return started


def measure(
    args: argparse.Namespace, fd_limit: int, certificate: tuple[Path, Path] | None
) -> dict[str, Any]:
    extra = tuple(shlex.split(args.serve_args))
    with PinnedServer(args.socketrush, certificate=certificate, extra=extra) as server:
        rss_before = server.rss_bytes()
        cpu_before = server.cpu_seconds()
        started = time.perf_counter()
        cafile = certificate[0] if certificate is not None else None
        children = start_clients(args, server.port, fd_limit, cafile)
        try:
            ready = [child.stdout.readline().split() for child in children]
            elapsed = time.perf_counter() - started
            opened = sum(int(line[1]) for line in ready)
            connect_cpu = server.cpu_seconds() - cpu_before
            gevent.sleep(0.5)  # let the last subscribes settle before sampling RSS
            rss_after = server.rss_bytes()
            idle_from = server.cpu_seconds()
            gevent.sleep(args.hold_seconds)
            idle_cpu = server.cpu_seconds() - idle_from
            rss_after_hold = server.rss_bytes()
        finally:
            for child in children:
                child.stdin.close()
            for child in children:
                child.wait(60)
    return {
        "tls": certificate is not None,
        "connections": opened,
        "failed": sum(int(line[3]) for line in ready),
        "client_processes": len(children),
        "source_addresses": math.ceil(args.connections / PER_SOURCE),
        "open_files_limit": fd_limit,
        "connect_seconds": round(elapsed, 1),
        "conn_per_s": round(opened / elapsed, 1),
        "connect_server_cpu_s": round(connect_cpu, 2),
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_after_mib": round(rss_after / 2**20, 1),
        "rss_per_conn_kb": round((rss_after - rss_before) / max(1, opened) / 1000, 2),
        "hold_seconds": args.hold_seconds,
        "idle_cpu_s": round(idle_cpu, 3),
        "idle_cpu_pct": round(100 * idle_cpu / args.hold_seconds, 2),
        "rss_after_hold_mib": round(rss_after_hold / 2**20, 1),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socketrush", type=Path, default=root / ".venv/bin/socketrush")
    parser.add_argument("--connections", type=int, default=20_000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--window", type=int, default=200, help="handshakes in flight")
    parser.add_argument("--hold-seconds", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=240.0, help="hard limit")
    parser.add_argument("--clients-only", action="store_true")
    parser.add_argument("--port", type=int, help="with --clients-only: the running server")
    parser.add_argument("--first", type=int, default=0, help="with --clients-only")
    parser.add_argument("--tls", action="store_true", help="serve and connect over wss")
    parser.add_argument("--tls-ca", help="with --clients-only: the server's certificate")
    parser.add_argument("--serve-args", default="", help="more `serve` flags, one string")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    fd_limit = raise_open_files(args.connections + FD_HEADROOM)
    with gevent.Timeout(args.max_seconds, TimeoutError(f"over --max-seconds {args.max_seconds}")):
        if args.clients_only:
            clients_only(args)
            return 0
        if args.connections + FD_HEADROOM > fd_limit:
            sys.stderr.write(
                f"the server may open {fd_limit} files: at most "
                f"{fd_limit - FD_HEADROOM} connections (the hard limit can only be raised "
                "with CAP_SYS_RESOURCE, e.g. `ulimit -Hn` as root or docker --ulimit nofile)\n"
            )
            return 2
        os.sched_setaffinity(0, {GENERATOR_CPU})
        with tempfile.TemporaryDirectory(prefix="socketrush-idle-") as directory:
            certificate = make_certificate(Path(directory)) if args.tls else None
            result = measure(args, fd_limit, certificate)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    width = max(map(len, result))
    sys.stderr.write("\n".join(f"{k:<{width}}  {v}" for k, v in result.items()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
