"""Where an idle subscribed connection's memory goes: the server in this process, clients in
a child (idle_connections.py --clients-only), RSS and tracemalloc compared before and after.

    .venv/bin/python loadtests/memprofile.py --connections 2000           # RSS per connection
    .venv/bin/python loadtests/memprofile.py --connections 2000 --trace   # + allocation sites

tracemalloc adds its own bookkeeping to every block, so RSS per connection is only meaningful
without --trace; with it, the report lists the Python allocation sites that grew, per
connection, and "untraced" (RSS growth minus traced growth): greenlet data stacks, allocator
slack and anything C code allocates outside Python's allocators.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # like `socketrush serve` (socketrush/entrypoint.py)

import argparse  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from bench_server import APP_ID, APP_KEY, APP_SECRET, HOST, free_port, raise_open_files  # noqa: E402

from socketrush.config import load_settings  # noqa: E402
from socketrush.http.server import build_server  # noqa: E402
from socketrush.node import Node  # noqa: E402

HERE = Path(__file__).resolve().parent


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--trace", action="store_true", help="also list allocation sites")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="hard limit")
    args = parser.parse_args(argv)
    raise_open_files(args.connections + 1024)

    port = free_port()
    settings = load_settings(
        ["--port", str(port), "--bind-address", HOST, "--env-file", os.devnull,
         "--app-id", APP_ID, "--app-key", APP_KEY, "--app-secret", APP_SECRET],
        environ={},
    )  # fmt: skip
    node = Node(settings)
    server = build_server(settings, node)
    node.start()
    server.start()
    clients = [
        sys.executable, str(HERE / "idle_connections.py"), "--clients-only",
        "--port", str(port), "--connections", str(args.connections),
        "--channels", str(args.channels), "--max-seconds", str(args.max_seconds),
    ]  # fmt: skip
    with gevent.Timeout(args.max_seconds, TimeoutError(f"over --max-seconds {args.max_seconds}")):
        gc.collect()
        if args.trace:
            tracemalloc.start(12)
        before_rss = rss_bytes()
        before = tracemalloc.take_snapshot() if args.trace else None
        child = subprocess.Popen(clients, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = child.stdout.readline().split()
        opened = int(ready[1])
        gevent.sleep(0.5)  # the last subscribes settle
        gc.collect()
        after_rss = rss_bytes()
        after = tracemalloc.take_snapshot() if args.trace else None
        child.stdin.close()
        child.wait(30)
    server.stop(timeout=2)

    per_conn = (after_rss - before_rss) / max(1, opened)
    print(f"connections {opened}  RSS +{(after_rss - before_rss) / 2**20:.1f} MiB")
    print(
        f"RSS per connection {per_conn / 1000:.2f} KB{'  (inflated by tracemalloc)' * args.trace}"
    )
    if before is not None and after is not None:
        stats = after.compare_to(before, "traceback")
        traced = sum(stat.size_diff for stat in stats)
        print(f"traced per connection {traced / opened / 1000:.2f} KB")
        for stat in stats[: args.top]:
            print(
                f"\n{stat.size_diff / opened:8.0f} B/conn  {stat.count_diff / opened:5.2f} blocks/conn"
            )
            for line in stat.traceback.format(limit=6, most_recent_first=True):
                print("   ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
