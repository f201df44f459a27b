"""The server's instructions per connect, per relayed client event and per close, counted by
callgrind: a cost figure that holds still on a shared, noisy machine.

    .venv/bin/python loadtests/instructions.py > instructions.json   # JSON on stdout, table on stderr

Rates measured on this 2-core machine swing by a factor of two with the other work on it;
instruction counts of a fixed workload move by about a percent. So a change to a hot path is
judged here first (before and after, same command), and by `compare.sh` only at checkpoints.

One `socketrush serve` runs under `valgrind --tool=callgrind` (about 50x slower, so counts are
small: `--connections` 300, `--events` 3000). After a warm-up (connections opened, used and
closed, so pools, caches and lazy imports are filled) each phase zeroes the counters
(`callgrind_control -z`), runs, and dumps them (`-d`):

- **connect**: `--connections` sockets, `--window` handshakes in flight, each subscribing to
  `bench-{i % 100}` and waiting for `subscription_succeeded` (as `compare.sh connect`); the
  100 channels already exist, each held by a socket opened before the phase, so channel
  creation weighs about as little as in compare.sh's 5,000 connects;
- **client_events**: `--pairs` private-channel pairs ping-pong `--events` client events in all,
  each waited for by its receiver (as `compare.sh client-events`);
- **close**: every socket of the connect phase sends a close frame and waits for the server's
  end of the stream (the channels stay, held by their first sockets).

Each phase's figure is its instruction count divided by its units; the idle event loop costs a
few hundred thousand instructions a second, which is why `idle_ir_per_s` is reported too. Only
the process started here is signalled; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gevent
import pusher
from bench_server import APP_ID, APP_KEY, APP_SECRET, HOST, free_port, stop_process
from gevent.pool import Pool
from rawws import RawPusher

_SUMMARY = re.compile(rb"^summary:\s+(\d+)", re.MULTILINE)


class CallgrindServer:
    """`socketrush serve` under callgrind; `measure(run)` counts the instructions of `run()`."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "PORT"))}
        env.update(LOG_LEVEL="warn", PYTHONHASHSEED="0")
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={workdir}/cg.out",
            str(binary), "serve", "--port", str(self.port), "--bind-address", HOST,
            "--env-file", os.devnull, "--app-id", APP_ID, "--app-key", APP_KEY,
            "--app-secret", APP_SECRET, "--app-enable-client-messages", "true",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._dumps = 0

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with status {self.process.returncode}")
            try:
                RawPusher(HOST, self.port, APP_KEY, timeout=30).close()
                return
            except OSError:
                time.sleep(0.5)  # not listening yet: nothing to wait on but the clock
        raise RuntimeError(f"server not ready within {timeout}s")

    def _control(self, flag: str) -> None:
        subprocess.run(
            ["callgrind_control", flag, str(self.process.pid)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def measure(self, run: Callable[[], None]) -> int:
        self._control("-z")
        run()
        self._control("-d")
        self._dumps += 1
        dump = self.workdir / f"cg.out.{self._dumps}"
        match = _SUMMARY.search(dump.read_bytes())
        if match is None:
            raise RuntimeError(f"no summary line in {dump}")
        return int(match.group(1))

    def stop(self) -> None:
        stop_process(self.process, grace=30)  # callgrind writes its dump on the way out


def open_sockets(port: int, count: int, window: int, subscribe: Callable) -> list[RawPusher]:
    sockets: list[RawPusher | None] = [None] * count

    def one(index: int) -> None:
        sock = RawPusher(HOST, port, APP_KEY, timeout=60)
        subscribe(index, sock)
        sock.next_event("pusher_internal:subscription_succeeded", timeout=60)
        sockets[index] = sock

    Pool(window).map(one, range(count))
    return [sock for sock in sockets if sock is not None]


def close_sockets(sockets: list[RawPusher]) -> None:
    def one(sock: RawPusher) -> None:
        sock.close_and_wait()

    Pool(100).map(one, sockets)


BENCH_CHANNELS = 100  # as compare.sh connect: `bench-{i % 100}`


def public(index: int, sock: RawPusher) -> None:
    sock.send("pusher:subscribe", {"channel": f"bench-{index % BENCH_CHANNELS}"})


def private(client: pusher.Pusher) -> Callable[[int, RawPusher], None]:
    def subscribe(index: int, sock: RawPusher) -> None:
        channel = f"private-bench-{index // 2}"
        auth = client.authenticate(channel, sock.socket_id)["auth"]
        sock.send("pusher:subscribe", {"channel": channel, "auth": auth})

    return subscribe


def ping_pong(sockets: list[RawPusher], events: int) -> int:
    """Closed-loop volleys on every pair until `events` have been relayed; returns the count."""
    pairs = len(sockets) // 2
    per_pair = events // pairs

    def pair_loop(pair: int) -> None:
        ping, pong, channel = sockets[2 * pair], sockets[2 * pair + 1], f"private-bench-{pair}"
        for volley in range(per_pair):
            sender, receiver = (ping, pong) if volley % 2 == 0 else (pong, ping)
            sender.send("client-ping", {"s": volley, "p": "x" * 60}, channel)
            receiver.next_event("client-ping", timeout=60)

    Pool(pairs).map(pair_loop, range(pairs))
    return per_pair * pairs


def run(binary: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="socketrush-callgrind-") as scratch:
        workdir = args.keep_dumps or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        server = CallgrindServer(binary, workdir)
        try:
            server.wait_ready(args.start_timeout)
            client = pusher.Pusher(APP_ID, APP_KEY, APP_SECRET, host=HOST, port=server.port)
            warm = open_sockets(server.port, 2 * args.pairs, args.window, private(client))
            ping_pong(warm, args.pairs * 10)
            close_sockets(warm)
            # The public channels exist before the connect phase, held by a socket each: 100
            # channel creations in 300 connects would be a third of them, against 100 in
            # compare.sh's 5,000.
            keepers = open_sockets(server.port, BENCH_CHANNELS, args.window, public)
            idle = server.measure(lambda: gevent.sleep(2.0))
            held: list[RawPusher] = []
            connect = server.measure(
                lambda: held.extend(
                    open_sockets(server.port, args.connections, args.window, public)
                )
            )
            pairs = open_sockets(server.port, 2 * args.pairs, args.window, private(client))
            relayed = [0]
            events = server.measure(lambda: relayed.__setitem__(0, ping_pong(pairs, args.events)))
            close = server.measure(lambda: close_sockets(held))
            close_sockets(pairs + keepers)
        finally:
            server.stop()
    return {
        "connections": args.connections,
        "events": relayed[0],
        "idle_ir_per_s": idle // 2,
        "ir_per_connect": connect // args.connections,
        "ir_per_client_event": events // relayed[0],
        "ir_per_close": close // args.connections,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socketrush", type=Path, default=Path(".venv/bin/socketrush"))
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument(
        "--keep-dumps",
        type=Path,
        help="keep callgrind's dumps here (cg.out.N, one per measure) for callgrind_annotate",
    )
    parser.add_argument("--start-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    # The figures divide by these: each pair must relay at least one event.
    if args.connections < 1 or args.pairs < 1:
        parser.error("--connections and --pairs must be at least 1")
    if args.events < args.pairs:
        parser.error(f"--events ({args.events}) must be at least --pairs ({args.pairs})")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args.socketrush.resolve(), args)
    json.dump(report, sys.stdout, indent=2)
    print(file=sys.stdout)
    for key, value in report.items():
        print(f"{key:>22}: {value:,}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
