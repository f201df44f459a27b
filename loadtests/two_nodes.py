"""Two nodes on one Redis, Socket Rush against soketi: fan-out across nodes on a rate ladder.

    .venv/bin/python loadtests/two_nodes.py --runs 3 > two_nodes.json   # JSON out, table on stderr

For each run and each server (alternated, soketi first), a fresh redis-server and two fresh
nodes on it (Socket Rush's and soketi's Redis adapters), all three pinned to --server-cpus
(CPU 0), and the generator pinned to --generator-cpu (CPU 1). The generator
(`multinode_gen.js`, built on the shared generator's modules, so the same client, histogram
and rules as `compare.sh fanout`) splits --subs subscribers evenly between the nodes, publishes
through node A's HTTP API on a rising ladder and reports the highest delivered msg/s with
p99 < --p99-limit-ms and nothing lost, with each process's CPU at every step (node A publishes
and delivers to its half, node B receives through Redis, Redis relays).

Why all server processes share one core: the machine has two; the generator needs one of its
own (it is the limit first otherwise), and both servers then get the same single core for the
whole deployment (both nodes and their Redis), as the single-node comparison gives each server
one core. A figure is therefore "what one core does when the work is split over two nodes".

The shared bench and peers are copied to --bench-home (read-only in ../shared) and soketi's npm
packages installed there once. Every load loop is bounded (the generator's ladder by time, its
process by a hard timeout, the whole run by --max-seconds); all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from multinode import HOST, ROOT, BenchHome, Pinned, Redis, await_http, socketrush_node

GENERATOR = Path(__file__).with_name("multinode_gen.js")
SERVERS = ("soketi", "socketrush")


def await_adapters(kind: str, nodes: list[tuple[Pinned, int]], redis: Redis, prefix: str) -> None:
    """Both nodes must be listening on Redis before the first subscriber connects: Socket Rush
    says so on /ready, soketi by subscribing to its request channel (PUBSUB NUMSUB)."""
    soketi_requests = f"{prefix}#redis-adapter#comms#req"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if kind == "socketrush":
            try:
                for _node, port in nodes:
                    urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=1).close()
                return
            except OSError:
                pass
        elif redis.command("PUBSUB", "NUMSUB", soketi_requests).endswith(
            f":{len(nodes)}\r\n".encode()
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{kind} nodes did not subscribe to Redis within 30 s")


def start_nodes(
    kind: str, args: argparse.Namespace, home: BenchHome, redis: Redis, logs: Path
) -> list[tuple[Pinned, int]]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    nodes = []
    for name in ("node-a", "node-b"):
        log = logs / f"{kind}-{name}.log"
        if kind == "socketrush":
            nodes.append(
                socketrush_node(name, redis, prefix, args.server_cpus, args.socketrush, log=log)
            )
        else:
            nodes.append(home.soketi_node(name, redis, prefix, args.server_cpus, log=log))
    for node, port in nodes:
        await_http(node, port)
    await_adapters(kind, nodes, redis, prefix)
    return nodes


def run_once(kind: str, args: argparse.Namespace, home: BenchHome, logs: Path) -> dict[str, Any]:
    redis = Redis(cpus=args.server_cpus).start()
    nodes: list[tuple[Pinned, int]] = []
    try:
        nodes = start_nodes(kind, args, home, redis, logs)
        assert redis.program is not None
        procs = [f"{node.name}:{node.pid}" for node, _port in nodes] + [
            f"redis:{redis.program.pid}"
        ]
        command = [
            "taskset", "-c", args.generator_cpu, "node", str(GENERATOR),
            f"gen_dir={home.gen_dir}", f"ports={','.join(str(port) for _n, port in nodes)}",
            f"publish_port={nodes[0][1]}", f"procs={','.join(procs)}", f"subs={args.subs}",
            f"p99_limit_ms={args.p99_limit_ms}", f"redis_port={redis.port}", *args.gen,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=240)
        if done.returncode != 0:
            raise RuntimeError(f"generator exited {done.returncode}: {done.stderr[-2000:]}")
        result = json.loads(done.stdout)
    finally:
        for node, _port in nodes:
            node.stop()
        redis.stop()
    result["server"] = kind
    return result


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over one server's runs of the best passing step's figures."""
    best = [r.get("max_sustainable") or {} for r in runs]
    procs = sorted({name for b in best for name in b.get("cpu_pct", {})})
    return {
        "runs": len(runs),
        "delivered_msgs_per_s": median([b.get("delivered_msgs_per_s") for b in best]),
        "delivered_each_run": [b.get("delivered_msgs_per_s") for b in best],
        "events_per_s": median([b.get("events_per_s") for b in best]),
        "p50_ms": median([b.get("p50_ms") for b in best]),
        "p99_ms": median([b.get("p99_ms") for b in best]),
        "server_cpu_pct": median([b.get("server_cpu_pct") for b in best]),
        "cpu_pct": {p: median([b.get("cpu_pct", {}).get(p) for b in best]) for p in procs},
        "gen_cpu_pct": median([b.get("gen_cpu_pct") for b in best]),
        "generator_saturated_runs": sum(1 for r in runs if r.get("generator_saturated")),
        "limited_by": [r.get("limited_by") for r in runs],
        "errors": [r["error"] for r in runs if "error" in r],
    }


def table(summary: dict[str, dict[str, Any]]) -> str:
    rows = [
        ("delivered msg/s (median)", "delivered_msgs_per_s"),
        ("each run", "delivered_each_run"),
        ("events/s at that step", "events_per_s"),
        ("p50 / p99 ms", None),
        ("CPU % (all server processes)", "server_cpu_pct"),
        ("CPU % per process", "cpu_pct"),
        ("generator CPU %", "gen_cpu_pct"),
        ("limited by", "limited_by"),
    ]
    lines = []
    for label, key in rows:
        cells = []
        for server in summary:
            s = summary[server]
            cells.append(f"{s['p50_ms']} / {s['p99_ms']}" if key is None else str(s[key]))
        lines.append(f"{label:<30} " + " | ".join(f"{c:<40}" for c in cells))
    header = f"{'':<30} " + " | ".join(f"{s:<40}" for s in summary)
    ratio = ""
    if all(summary.get(s, {}).get("delivered_msgs_per_s") for s in SERVERS):
        r = (
            summary["socketrush"]["delivered_msgs_per_s"]
            / summary["soketi"]["delivered_msgs_per_s"]
        )
        ratio = f"\nratio socketrush / soketi: {r:.2f}"
    return "\n".join([header, *lines]) + ratio + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="alternations of the servers")
    parser.add_argument("--servers", default=",".join(SERVERS), help="soketi,socketrush")
    parser.add_argument("--subs", type=int, default=1000, help="subscribers, split evenly")
    parser.add_argument("--p99-limit-ms", type=float, default=100.0)
    parser.add_argument("--server-cpus", default="0", help="taskset list for nodes and Redis")
    parser.add_argument("--generator-cpu", default="1")
    parser.add_argument("--socketrush", type=Path, default=ROOT / ".venv/bin/socketrush")
    parser.add_argument("--bench-home", type=Path,
                        default=Path(tempfile.gettempdir()) / "socketrush-two-nodes")  # fmt: skip
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="whole run")
    parser.add_argument("--gen", nargs="*", default=[], metavar="KEY=VALUE",
                        help="more generator settings, e.g. rates=20,40 step_s=5")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        sys.stderr.write(f"unknown servers {sorted(unknown)}; choose from {SERVERS}\n")
        return 2
    home = BenchHome(args.bench_home).prepare()
    logs = args.bench_home / "logs" / time.strftime("%Y%m%d-%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.max_seconds
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in servers}
    # One flat sequence, so reaching --max-seconds ends the whole run, not one alternation.
    for index, server in itertools.product(range(args.runs), servers):
        if time.monotonic() > deadline:
            sys.stderr.write("stopped at --max-seconds\n")
            break
        result = run_once(server, args, home, logs)
        runs[server].append(result)
        best = result.get("max_sustainable") or {}
        sys.stderr.write(
            f"run {index + 1} {server}: {best.get('delivered_msgs_per_s')} msg/s, "
            f"p99 {best.get('p99_ms')} ms, CPU {best.get('cpu_pct')}, "
            f"gen {best.get('gen_cpu_pct')} % {result.get('error', '')}\n"
        )
    summary = {s: summarize(r) for s, r in runs.items() if r}
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    report = {"summary": summary, "load_average": load, "logs": str(logs), "runs": runs}
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stderr.write(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
