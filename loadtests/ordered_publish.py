"""What publish order across nodes costs a node's own subscribers, on the Redis adapter.

    .venv/bin/python loadtests/ordered_publish.py --before OTHER/.venv/bin/socketrush --runs 5

One node on a fresh redis-server (both pinned to --server-cpus), one subscriber on the node,
and --events HTTP triggers sent one after another, each once the previous one arrived. For
each trigger: the time its HTTP answer took (`ack`), and the time from sending it to its
event reaching the subscriber (`delivery`). Each run measures `--before` (a Socket Rush
whose HTTP events are delivered locally by the app, then published) and `--after` (this
checkout: published on Redis first and delivered through the node's own subscription),
alternated, each with a fresh Redis and node; the table gives each side's median over runs of
p50 and p99, in ms. All traffic stays on 127.0.0.1; every process started is stopped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pusher
import websocket
from multinode import APP_ID, APP_KEY, APP_SECRET, HOST, ROOT, Redis, await_http, socketrush_node

CHANNEL = "ordered-bench"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Trigger:
    """A signed `POST /apps/<id>/events`, each on a new connection with TCP_NODELAY and in
    one write: on a kept-alive connection the answer's second write waits for the client's
    delayed ACK (~40 ms on Linux), which would hide what is measured here."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._sdk = pusher.Pusher("1", APP_KEY, APP_SECRET, host=HOST, port=port, ssl=False)
        self._sdk._pusher_client._app_id = APP_ID  # the shared bench's id, which it refuses

    def __call__(self, number: int) -> None:
        request = self._sdk._pusher_client.trigger.make_request(CHANNEL, "tick", number)
        connection = http.client.HTTPConnection(HOST, self._port, timeout=10)
        try:
            connection.connect()
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            headers = {"Content-Type": "application/json", "Connection": "close"}
            connection.request("POST", request.signed_path, request.body, headers)
            reply = connection.getresponse()
            body = reply.read()
        finally:
            connection.close()
        if reply.status != 200:
            raise RuntimeError(f"trigger answered {reply.status}: {body[:200]!r}")


def measure(binary: Path, args: argparse.Namespace, logs: Path, label: str) -> dict[str, float]:
    """One fresh Redis and node; p50/p99 of ack and delivery over --events triggers (ms)."""
    with Redis(cpus=args.server_cpus) as redis:
        node, port = socketrush_node(
            label, redis, f"b{uuid.uuid4().hex[:6]}", args.server_cpus, binary,
            log=logs / f"{label}.log",
        )  # fmt: skip
        try:
            await_http(node, port, "/ready")
            ws = websocket.create_connection(f"ws://{HOST}:{port}/app/{APP_KEY}?protocol=7")
            ws.settimeout(10)
            json.loads(ws.recv())  # connection_established
            ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": CHANNEL}}))
            json.loads(ws.recv())  # subscription_succeeded
            trigger = Trigger(port)
            acks, deliveries = [], []
            for number in range(args.warmup + args.events):
                sent = time.perf_counter()
                trigger(number)
                answered = time.perf_counter()
                event = json.loads(ws.recv())
                arrived = time.perf_counter()
                if event.get("event") != "tick":
                    raise RuntimeError(f"unexpected frame {event}")
                if number >= args.warmup:
                    acks.append((answered - sent) * 1000)
                    deliveries.append((arrived - sent) * 1000)
            ws.close()
        finally:
            node.stop()
    return {
        "ack_p50": percentile(acks, 0.5),
        "ack_p99": percentile(acks, 0.99),
        "delivery_p50": percentile(deliveries, 0.5),
        "delivery_p99": percentile(deliveries, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other socketrush")
    parser.add_argument("--after", type=Path, default=ROOT / ".venv/bin/socketrush")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--server-cpus", default="0")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="ordered-bench-") as logs:
        for run in range(args.runs):
            for label in ("before", "after") if run % 2 == 0 else ("after", "before"):
                binary = args.before if label == "before" else args.after
                figures = measure(binary, args, Path(logs), f"{label}-{run}")
                results[label].append(figures)
                print(f"run {run} {label}: {figures}", file=sys.stderr)
    medians = {
        label: {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
        for label, runs in results.items()
    }
    print(f"{'':8}{'ack p50':>10}{'ack p99':>10}{'dlv p50':>10}{'dlv p99':>10}", file=sys.stderr)
    for label, figures in medians.items():
        row = "".join(f"{figures[key]:>10.2f}" for key in figures)
        print(f"{label:8}{row}", file=sys.stderr)
    json.dump({"runs": results, "medians": medians}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
