"""Benchmark runner: Socket Rush pinned to CPU 0, a gevent load generator pinned to CPU 1.

    .venv/bin/python loadtests/bench.py > bench.json      # JSON on stdout, a table on stderr

Phases, each on a fresh server: connect (N sockets subscribe to 100 public channels, then idle),
fanout (1000 subscribers on one channel, HTTP-triggered events on a rising rate ladder),
client-events (private-channel pairs ping-ponging) and slow_consumer (a steady stream to 1000
subscribers, once alone and once with one more subscriber that stops reading). Every loop is
bounded by a count and a time, the whole run by --max-seconds, and all traffic stays on
127.0.0.1.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # the pusher SDK publishes through `requests`; it must yield, not block

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import orjson  # noqa: E402
import pusher  # noqa: E402
from bench_server import APP_ID, APP_KEY, APP_SECRET, HOST, PinnedServer  # noqa: E402
from dashboard_watch import server_flags, watch  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from rawws import RawPusher  # noqa: E402

GENERATOR_CPU = 1
FANOUT_EVENT = "bench-tick"
FLOOD_CHANNEL = "bench-flood"
P99_LIMIT_MS = 100.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


class CpuMeter:
    """CPU share of the server and of this generator over one measured stretch."""

    def __init__(self, server: PinnedServer) -> None:
        self.server = server
        self.wall, self.own = time.perf_counter(), time.process_time()
        self.theirs = server.cpu_seconds()

    def read(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        return {
            "server_cpu_pct": round(100 * (self.server.cpu_seconds() - self.theirs) / wall, 1),
            "generator_cpu_pct": round(100 * (time.process_time() - self.own) / wall, 1),
        }


def open_sockets(
    server: PinnedServer, count: int, subscribe: Callable[[int, RawPusher], None], window: int
) -> tuple[dict[int, RawPusher], list[float], int]:
    """Open `count` connections, at most `window` handshakes in flight, each then subscribed.

    Returns the sockets by index, the subscribe latencies (ms) and the number of failures.
    """
    sockets: dict[int, RawPusher] = {}
    latencies: list[float] = []
    failures = 0

    def one(index: int) -> None:
        nonlocal failures
        try:
            sock = RawPusher(HOST, server.port, APP_KEY)
            started = time.perf_counter()
            subscribe(index, sock)
            sock.next_event("pusher_internal:subscription_succeeded")
            latencies.append((time.perf_counter() - started) * 1000)
            sockets[index] = sock
        except (OSError, TimeoutError):
            failures += 1

    pool = Pool(window)
    for index in range(count):
        pool.spawn(one, index)
    pool.join(timeout=120)
    pool.kill()
    return sockets, latencies, failures


def close_all(sockets: dict[int, RawPusher]) -> None:
    for sock in sockets.values():
        sock.close()


def run_connect(binary: Path, args: argparse.Namespace) -> dict[str, Any]:
    with PinnedServer(binary) as server:
        rss_before = server.rss_bytes()
        meter = CpuMeter(server)
        started = time.perf_counter()
        sockets, latencies, failures = open_sockets(
            server,
            args.connections,
            lambda i, s: s.send("pusher:subscribe", {"channel": f"bench-{i % args.channels}"}),
            args.window,
        )
        elapsed = time.perf_counter() - started
        cpu = meter.read()
        gevent.sleep(0.5)  # let the server settle its buffers before the RSS sample
        rss_after = server.rss_bytes()
        idle_from = server.cpu_seconds()
        gevent.sleep(args.idle_seconds)
        idle_cpu = server.cpu_seconds() - idle_from
        result = {
            "connections": len(sockets),
            "failed": failures,
            "conn_per_s": round(len(sockets) / elapsed, 1),
            "subscribe_p50_ms": percentile(latencies, 0.50),
            "subscribe_p99_ms": percentile(latencies, 0.99),
            "rss_before_mib": round(rss_before / 2**20, 1),
            "rss_after_mib": round(rss_after / 2**20, 1),
            "rss_per_conn_kb": round((rss_after - rss_before) / max(1, len(sockets)) / 1000, 2),
            "idle_seconds": args.idle_seconds,
            "idle_cpu_s": round(idle_cpu, 3),
            "idle_cpu_pct": round(100 * idle_cpu / args.idle_seconds, 2),
            "rss_after_idle_mib": round(server.rss_bytes() / 2**20, 1),
            **cpu,
        }
        close_all(sockets)
        return result


def fanout_step(
    server: PinnedServer,
    client: pusher.Pusher,
    step: int,
    rate: float,
    seconds: float,
    args: argparse.Namespace,
    latencies: dict[int, list[float]],
    subscribers: int,
    pad: int = 80,
) -> dict[str, Any]:
    """Publish at `rate` ev/s for `seconds` (open loop), then wait --drain-seconds; each
    event carries `pad` bytes of filler."""
    latencies[step] = []
    errors = late = 0
    publishers = Pool(args.http_conns)
    filler = "x" * pad

    def publish(seq: int) -> None:
        nonlocal errors
        payload = {"k": step, "s": seq, "t": time.perf_counter() * 1000, "p": filler}
        try:
            client.trigger("bench-fanout", FANOUT_EVENT, payload)
        except Exception:  # any SDK or transport failure fails the step
            errors += 1

    meter = CpuMeter(server)
    started = time.perf_counter()
    total = int(rate * seconds)
    for seq in range(total):
        delay = started + seq / rate - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        elif delay < -0.05:
            late += 1
        publishers.spawn(publish, seq)
    publishers.join(timeout=args.drain_seconds)
    gevent.sleep(max(0.0, started + seconds + args.drain_seconds - time.perf_counter()))
    cpu = meter.read()
    publishers.kill()
    received = latencies[step]
    expected = (total - errors) * subscribers
    p99 = percentile(received, 0.99)
    return {
        "events_per_s": rate,
        "published": total - errors,
        "http_errors": errors,
        "late_publishes": late,
        "delivered_msgs": len(received),
        "missing_msgs": expected - len(received),
        "delivered_msg_per_s": round(len(received) / seconds),
        "p50_ms": percentile(received, 0.50),
        "p99_ms": p99,
        "max_ms": percentile(received, 1.0),
        "passed": bool(errors == 0 and late == 0 and len(received) >= expected and p99 is not None)
        and p99 < P99_LIMIT_MS,
        **cpu,
    }


def fanout_reader(latencies: dict[int, list[float]]) -> Callable[[RawPusher], None]:
    """A subscriber's loop: the latency of every fan-out event, filed under its step."""
    marker = f'"event":"{FANOUT_EVENT}"'.encode()

    def read(sock: RawPusher) -> None:
        while True:
            texts = sock.texts()
            now = time.perf_counter() * 1000
            for text in texts:
                if marker in text:
                    data = orjson.loads(orjson.loads(text)["data"])
                    latencies[data["k"]].append(now - data["t"])

    return read


def subscribe_fanout(_index: int, sock: RawPusher) -> None:
    sock.send("pusher:subscribe", {"channel": "bench-fanout"})


def run_fanout(binary: Path, args: argparse.Namespace) -> dict[str, Any]:
    latencies: dict[int, list[float]] = {}
    with PinnedServer(binary, extra=server_flags(args.dashboard)) as server:
        watcher = watch(server, args.dashboard)
        sockets, _, failures = open_sockets(server, args.subscribers, subscribe_fanout, args.window)
        readers = [gevent.spawn(fanout_reader(latencies), sock) for sock in sockets.values()]
        client = pusher.Pusher(APP_ID, APP_KEY, APP_SECRET, host=HOST, port=server.port, ssl=False)
        steps: list[dict[str, Any]] = []
        for rate in args.rates:
            for _attempt in range(2):  # a failing step is re-run once: this machine is noisy
                step = fanout_step(
                    server,
                    client,
                    len(steps),
                    rate,
                    args.step_seconds,
                    args,
                    latencies,
                    len(sockets),
                )
                steps.append(step)
                if step["passed"]:
                    break
            if not steps[-1]["passed"]:
                break
        rss = server.rss_bytes()
        gevent.killall(readers)
        close_all(sockets)
        records = watcher.close() if watcher else None
    passed = [s for s in steps if s["passed"]]
    best = passed[-1] if passed else None
    return {
        "subscribers": len(sockets),
        "failed": failures,
        "rss_mib": round(rss / 2**20, 1),
        "best_delivered_msg_per_s": best and best["delivered_msg_per_s"],
        "best_p99_ms": best and best["p99_ms"],
        "best_events_per_s": best and best["events_per_s"],
        "dashboard_records": records,
        "steps": steps,
    }


def run_slow_consumer(binary: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The same steady stream to --subscribers readers twice, each on a fresh server: alone,
    then with one more subscriber that stops reading. Reports the readers' p99 both times
    (target: at most 20 % worse), whether the stalled one was cut off, and the RSS growth."""
    baseline = slow_consumer_run(binary, args, stalled=False)
    with_stalled = slow_consumer_run(binary, args, stalled=True)
    before, after = baseline["p99_ms"], with_stalled["p99_ms"]
    return {
        "baseline": baseline,
        "with_stalled": with_stalled,
        "p99_ratio": round(after / before, 2) if before and after else None,
    }


def slow_consumer_run(binary: Path, args: argparse.Namespace, stalled: bool) -> dict[str, Any]:
    latencies: dict[int, list[float]] = {}
    backlog_limit = ("--socket-backlog-limit-kb", str(args.slow_backlog_kb))
    with PinnedServer(binary, extra=backlog_limit) as server:
        sockets, _, failures = open_sockets(server, args.subscribers, subscribe_fanout, args.window)
        readers = [gevent.spawn(fanout_reader(latencies), sock) for sock in sockets.values()]
        stalled_sock = None
        if stalled:  # a 4 KB receive window, and it never reads after subscribing
            stalled_sock = RawPusher(HOST, server.port, APP_KEY, rcvbuf=4096)
            for channel in ("bench-fanout", FLOOD_CHANNEL):
                stalled_sock.send("pusher:subscribe", {"channel": channel})
                stalled_sock.next_event("pusher_internal:subscription_succeeded")
        client = pusher.Pusher(APP_ID, APP_KEY, APP_SECRET, host=HOST, port=server.port, ssl=False)
        rss_before = server.rss_bytes()
        flooding = gevent.spawn(
            flood, client, args.slow_flood_kb, time.perf_counter() + args.slow_seconds
        )
        step = fanout_step(
            server,
            client,
            0,
            args.slow_rate,
            args.slow_seconds,
            args,
            latencies,
            len(sockets),
            args.slow_pad,
        )
        flooding.kill()
        rss_after = server.rss_bytes()
        cut_off = stalled_sock is not None and ended_within(stalled_sock, 5.0)
        gevent.killall(readers)
        close_all(sockets)
        if stalled_sock is not None:
            stalled_sock.close()
    return {
        "subscribers": len(sockets),
        "failed": failures,
        "stalled_subscriber": stalled,
        "stalled_cut_off": cut_off if stalled else None,
        "rss_growth_mib": round((rss_after - rss_before) / 2**20, 1),
        **{key: step[key] for key in ("events_per_s", "missing_msgs", "p50_ms", "p99_ms")},
        "max_ms": step["max_ms"],
        "server_cpu_pct": step["server_cpu_pct"],
        "generator_cpu_pct": step["generator_cpu_pct"],
    }


def flood(client: pusher.Pusher, kb_per_s: int, until: float) -> None:
    """Large events on a channel only the stalled subscriber takes (nobody in the baseline
    run, which pays the same HTTP work), so that its kernel buffers (megabytes on loopback)
    fill and its backlog passes the limit within the run."""
    batch = [{"channel": FLOOD_CHANNEL, "name": "flood", "data": "y" * 9000}] * 10
    interval = len(batch) * 9 / kb_per_s
    due = time.perf_counter()
    while due < until:
        # A refused publish only slows the flood; the stream is what is measured.
        with contextlib.suppress(Exception):
            client.trigger_batch(batch)
        due += interval
        gevent.sleep(max(0.0, due - time.perf_counter()))


def ended_within(sock: RawPusher, seconds: float) -> bool:
    """True if the server ended the connection: what it still holds arrives, then EOF. A
    connection it kept would go on draining its backlog until the timeout."""
    try:
        with gevent.Timeout(seconds):
            sock.read_to_eof()
    except gevent.Timeout:
        return False
    return True


def run_client_events(binary: Path, args: argparse.Namespace) -> dict[str, Any]:
    latencies: list[float] = []

    def subscribe(index: int, sock: RawPusher) -> None:
        channel = f"private-bench-{index // 2}"
        auth = client.authenticate(channel, sock.socket_id)["auth"]
        sock.send("pusher:subscribe", {"channel": channel, "auth": auth})

    def volley(sender: RawPusher, receiver: RawPusher, channel: str, event: str) -> None:
        sender.send(event, {"t": time.perf_counter() * 1000}, channel)
        frame = receiver.next_event(event, timeout=5)
        data = frame["data"]  # a client event's data is relayed as sent: here an object
        latencies.append(time.perf_counter() * 1000 - data["t"])

    def pair_loop(pair: int, deadline: float) -> None:
        ping, pong, channel = sockets[2 * pair], sockets[2 * pair + 1], f"private-bench-{pair}"
        while time.perf_counter() < deadline:
            volley(ping, pong, channel, "client-ping")
            volley(pong, ping, channel, "client-pong")

    with PinnedServer(binary, extra=server_flags(args.dashboard)) as server:
        watcher = watch(server, args.dashboard)
        client = pusher.Pusher(APP_ID, APP_KEY, APP_SECRET, host=HOST, port=server.port, ssl=False)
        sockets, _, failures = open_sockets(server, 2 * args.pairs, subscribe, args.window)
        pairs = [p for p in range(args.pairs) if 2 * p in sockets and 2 * p + 1 in sockets]
        meter = CpuMeter(server)
        started = time.perf_counter()
        loops = [gevent.spawn(pair_loop, pair, started + args.client_seconds) for pair in pairs]
        gevent.joinall(loops, timeout=args.client_seconds + 10)
        elapsed = time.perf_counter() - started
        cpu = meter.read()
        errors = sum(1 for g in loops if g.exception is not None)
        gevent.killall(loops)
        close_all(sockets)
        records = watcher.close() if watcher else None
    return {
        "pairs": len(pairs),
        "dashboard_records": records,
        "failed": failures,
        "pair_errors": errors,
        "events_per_s": round(len(latencies) / elapsed),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": percentile(latencies, 1.0),
        **cpu,
    }


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def table(report: dict[str, Any]) -> str:
    c, f, e = report.get("connect"), report.get("fanout"), report.get("client_events")
    slow = report.get("slow_consumer")
    rows = [("figure", "value")]
    if c:
        rows += [
            (f"connect rate ({c['connections']} conns)", f"{c['conn_per_s']} conn/s"),
            ("subscribe p50 / p99", f"{c['subscribe_p50_ms']} / {c['subscribe_p99_ms']} ms"),
            ("RSS per idle subscribed conn", f"{c['rss_per_conn_kb']} KB"),
            (
                f"idle CPU over {c['idle_seconds']} s",
                f"{c['idle_cpu_s']} s ({c['idle_cpu_pct']} %)",
            ),
        ]
    if f:
        rows += [
            (
                f"fan-out delivered ({f['subscribers']} subs)",
                f"{f['best_delivered_msg_per_s']} msg/s, p99 {f['best_p99_ms']} ms"
                if f["best_p99_ms"] is not None
                else "no ladder step passed",
            )
        ]
    if e:
        rows += [
            (f"client events ({e['pairs']} pairs)", f"{e['events_per_s']} ev/s"),
            ("client event p50 / p99", f"{e['p50_ms']} / {e['p99_ms']} ms"),
        ]
    if slow:
        base, stalled = slow["baseline"], slow["with_stalled"]
        rows += [
            (
                "steady stream p99, alone / + stalled",
                f"{base['p99_ms']} / {stalled['p99_ms']} ms (x{slow['p99_ratio']})",
            ),
            ("stalled subscriber cut off", str(stalled["stalled_cut_off"])),
        ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socketrush", type=Path, default=root / ".venv/bin/socketrush")
    parser.add_argument("--phases", default="connect,fanout,client_events,slow_consumer")
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--window", type=int, default=200, help="handshakes in flight")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=[5, 10, 20, 40, 60, 80],
        help="fan-out ladder, events/s",
    )
    parser.add_argument("--step-seconds", type=float, default=3.0)
    parser.add_argument("--drain-seconds", type=float, default=2.0)
    parser.add_argument("--http-conns", type=int, default=8, help="publishes in flight")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--client-seconds", type=float, default=10.0)
    parser.add_argument("--slow-rate", type=float, default=20.0, help="steady stream, ev/s")
    parser.add_argument("--slow-seconds", type=float, default=20.0)
    parser.add_argument("--slow-pad", type=int, default=200, help="filler bytes per event")
    parser.add_argument("--slow-backlog-kb", type=int, default=256, help="server backlog limit")
    parser.add_argument("--slow-flood-kb", type=int, default=2000, help="KB/s to the stalled one")
    parser.add_argument("--max-seconds", type=float, default=240.0, help="hard limit")
    parser.add_argument(
        "--dashboard",
        choices=("off", "idle", "watching"),
        default="off",
        help="fanout and client-events with the dashboard off, on with no page, or watched",
    )
    return parser.parse_args(argv)


PHASES = {
    "connect": run_connect,
    "fanout": run_fanout,
    "client_events": run_client_events,
    "slow_consumer": run_slow_consumer,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.sched_setaffinity(0, {GENERATOR_CPU})
    settings = vars(args) | {"socketrush": str(args.socketrush)}
    report: dict[str, Any] = {"machine": machine(), "settings": settings}
    with gevent.Timeout(args.max_seconds, TimeoutError(f"over --max-seconds {args.max_seconds}")):
        for phase in args.phases.split(","):
            report[phase] = PHASES[phase](args.socketrush, args)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stderr.write(table(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
