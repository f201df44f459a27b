"""What the gevent <-> asyncio bridge of the NATS adapter costs per message.

    .venv/bin/python loadtests/nats_bridge.py > bridge.json   # JSON on stdout, table on stderr

Starts its own `nats-server -js` on a free loopback port, then measures the same work twice:
once with nats-py alone in a plain asyncio process (`direct`), once through `NatsBridge` in a
monkey-patched gevent process as a node uses it (`bridge`):

- `publish+receive`: --messages messages of --size bytes published on one subject and
  received back on a subscription (NATS loops them through the server), per message;
- `round trip`: one request/answer with the server (a flush), one at a time, --calls times;
- `kv update`: one JetStream key-value compare-and-set write, one at a time, --calls times.

The difference between the two columns is the bridge: thread hops, the ordered outbox, the
async watcher and the runner greenlet. Each measurement runs in a child process of its own
(the direct one must not be monkey-patched), bounded by --max-seconds, loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def direct(url: str, messages: int, size: int, calls: int) -> dict[str, float]:
    import asyncio

    import nats

    async def main() -> dict[str, float]:
        client = await nats.connect(url)
        payload = b"x" * size
        received = 0
        done = asyncio.Event()

        async def on_message(_message) -> None:
            nonlocal received
            received += 1
            if received == messages:
                done.set()

        await client.subscribe("bench.direct", cb=on_message)
        await client.flush()
        started = time.perf_counter()
        for _ in range(messages):
            await client.publish("bench.direct", payload)
        await asyncio.wait_for(done.wait(), 120)
        per_message = (time.perf_counter() - started) / messages
        started = time.perf_counter()
        for _ in range(calls):
            await client.flush()
        round_trip = (time.perf_counter() - started) / calls
        bucket = await client.jetstream().create_key_value(bucket="bench_direct", history=1)
        revision = await bucket.put("k", b"0")
        started = time.perf_counter()
        for number in range(calls):
            revision = await bucket.update("k", str(number).encode(), last=revision)
        kv_update = (time.perf_counter() - started) / calls
        await client.close()
        return {"publish+receive": per_message, "round trip": round_trip, "kv update": kv_update}

    return asyncio.run(main())


def bridged(url: str, messages: int, size: int, calls: int) -> dict[str, float]:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    from gevent.event import Event

    sys.path.insert(0, str(ROOT))
    from socketrush.nats_bridge import NatsBridge
    from socketrush.nats_client import NatsOptions

    bridge = NatsBridge(NatsOptions((url,), None, None, None, 5.0, 5.0, None), "bench")
    payload = b"x" * size
    received = 0
    done = Event()

    def on_message(_subject: str, _data: bytes) -> None:
        nonlocal received
        received += 1
        if received == messages:
            done.set()

    bridge.subscribe("bench.bridge", on_message)
    bridge.start()
    while not bridge.connected:
        gevent.sleep(0.01)
    bridge.call(lambda client: client.flush(), 5)  # the subscription is in place
    started = time.perf_counter()
    for number in range(messages):
        bridge.publish("bench.bridge", payload)
        if number % 1000 == 999:
            gevent.sleep(0)  # as a node does between requests: let the hub run
    assert done.wait(120), f"received {received} of {messages}"
    per_message = (time.perf_counter() - started) / messages
    started = time.perf_counter()
    for _ in range(calls):
        bridge.call(lambda client: client.flush(), 5)
    round_trip = (time.perf_counter() - started) / calls

    async def make_bucket(client):
        return await client.jetstream().create_key_value(bucket="bench_bridge", history=1)

    bucket = bridge.call(make_bucket, 5)
    revision = bridge.call(lambda _client: bucket.put("k", b"0"), 5)
    started = time.perf_counter()
    for number in range(calls):
        value = str(number).encode()
        revision = bridge.call(
            lambda _client, value=value, last=revision: bucket.update("k", value, last=last), 5
        )
    kv_update = (time.perf_counter() - started) / calls
    bridge.stop()
    return {"publish+receive": per_message, "round trip": round_trip, "kv update": kv_update}


def child(mode: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    """Run one mode in a fresh interpreter and return its figures (seconds)."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--url", url]
        + ["--messages", str(args.messages), "--size", str(args.size), "--calls", str(args.calls)],
        capture_output=True,
        text=True,
        timeout=args.max_seconds,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=200, help="payload bytes")
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--max-seconds", type=float, default=180)
    parser.add_argument("--child", choices=("direct", "bridge"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = direct if args.child == "direct" else bridged
        print(json.dumps(run(args.url, args.messages, args.size, args.calls)))
        return 0

    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    store = tempfile.mkdtemp(prefix="bench-nats-")
    port = free_port()
    server = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"nats://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)  # another process binding its port: nothing to await
        results = {mode: child(mode, url, args) for mode in ("direct", "bridge")}
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(store, ignore_errors=True)
    report = {
        "messages": args.messages,
        "size": args.size,
        "calls": args.calls,
        "cpu": os.cpu_count(),
        "microseconds": {
            mode: {name: round(seconds * 1e6, 1) for name, seconds in figures.items()}
            for mode, figures in results.items()
        },
    }
    print(json.dumps(report, indent=2))
    print(
        f"{'per message / call':<22}{'direct µs':>12}{'bridge µs':>12}{'bridge cost':>14}",
        file=sys.stderr,
    )
    for name in ("publish+receive", "round trip", "kv update"):
        plain = report["microseconds"]["direct"][name]
        through = report["microseconds"]["bridge"][name]
        print(f"{name:<22}{plain:>12}{through:>12}{through - plain:>+14.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
