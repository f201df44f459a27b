"""The measured cost of each part of a cross-node delivery, and a check of the scale model.

    .venv/bin/python loadtests/scale_costs.py > costs.json   # JSON on stdout, table on stderr

Phases (`--phases`, all by default), each on fresh processes, servers pinned to CPU 0 and the
generator (multinode_gen.js, on the shared generator's modules) to CPU 1:

- **cpu**: Redis and three Socket Rush nodes. Node A takes the HTTP publishes and has K
  subscribers on the channel, node B has K, node C none. Each run has an idle step (rate 0:
  heartbeats and timers, subtracted) and a step at --rate events/s for --step-seconds; runs
  alternate K = 1 and K = --subs on one channel and --cold-subs over --cold-channels,
  --repeat times each, and the figures are medians: publishing node (HTTP API + adapter
  publish), receiving node with subscribers (bus message, decode, app and channel hops),
  receiving node without (what interest routing saves), one local delivery (the slope from
  K = 1: "hot" when every event goes to the same 500 sockets, and the one the model takes
  when events go in turn to 100 channels of a node's 5,000 sockets, whose objects and
  kernel state are no longer in the CPU's caches), Redis' CPU per event
  from /proc and its own time per PUBLISH, and bytes on the wire per event from Redis' byte
  counters (in: the PUBLISH; out: one message per listening node). Then the receiving side
  alone at load: the generator puts events straight on the bus (as another node would) at
  each of --bus-rates to two nodes, one with a subscriber and one without; a node takes
  several messages per wake-up as the rate grows, so the cost per event falls (the model
  takes the figure at the rate in question). The same again with --listeners more bus
  subscribers (redis-cli, on the generator's CPU): Redis' cost per listening node is the
  difference.
- **memory**: one node on the Redis adapter, idle subscribed connections at --connections
  (1000, 5000, 19900 by default) through `idle_connections.py --serve-args ...`.
- **check**: the largest run this machine allows: --check-nodes (4) nodes on one Redis,
  --check-subs (19,900) subscribers over 100 channels, once with each channel on one node
  (`layout=local`) and once with every channel on every node (`layout=spread`), at
  --check-rate events/s through node A. Reports each node's CPU and RSS and Redis' CPU, and
  what loadtests/scale_model.py predicts for them from the cpu and memory phases.

The machine is shared: read `load_average` (sampled before and after each phase) beside the
figures. Every loop is bounded (fixed steps, the generator's hard timeout, a timeout on each
child process); all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import scale_model
from multinode import APP_ID, ROOT, BenchHome, Pinned, Redis, await_http, socketrush_node

GENERATOR = Path(__file__).with_name("multinode_gen.js")
IDLE = Path(__file__).with_name("idle_connections.py")
# A generator step lasts its --step-seconds plus at most the drain wait (2 s) and two Redis
# INFO samples (2 s each at worst), plus slack.
STEP_MARGIN_S = 8
# The generator's own defaults for these two, and room for its settling and warm-up.
CONNECT_S, HARD_TIMEOUT_S, SETUP_MARGIN_S = 60, 170, 60


def load_average() -> list[str]:
    with open("/proc/loadavg") as loadavg:
        return loadavg.read().split()[:3]


class Deployment:
    """Redis and `nodes` Socket Rush nodes on it, pinned, stopped on exit."""

    def __init__(
        self, args: argparse.Namespace, nodes: int, logs: Path, listeners: int = 0
    ) -> None:
        self.args, self.count, self.logs, self.listener_count = args, nodes, logs, listeners
        self.redis = Redis(cpus=args.server_cpus)
        self.prefix = f"scale{uuid.uuid4().hex[:8]}"
        self.nodes: list[tuple[Pinned, int]] = []
        self.listeners: list[Pinned] = []

    def __enter__(self) -> Deployment:
        self.redis.start()
        prefix = self.prefix
        for index in range(self.count):
            name = f"node-{chr(ord('a') + index)}"
            log = self.logs / f"{name}.log"
            self.nodes.append(
                socketrush_node(
                    name, self.redis, prefix, self.args.server_cpus, self.args.socketrush, log=log
                )
            )
        for node, port in self.nodes:
            await_http(node, port, "/ready")
        for index in range(self.listener_count):
            command = ["redis-cli", "-p", str(self.redis.port), "psubscribe", f"{prefix}*"]
            self.listeners.append(Pinned(f"listener-{index}", command, self.args.generator_cpu))
            self.listeners[-1].start()
        return self

    def __exit__(self, *exc: object) -> None:
        for program in self.listeners:
            program.stop()
        for node, _port in self.nodes:
            node.stop()
        self.redis.stop()

    def generate(self, home: BenchHome, settings: dict[str, object]) -> dict[str, Any]:
        assert self.redis.program is not None
        procs = [f"{node.name}:{node.pid}" for node, _port in self.nodes]
        procs.append(f"redis:{self.redis.program.pid}")
        settings = time_limits(
            {
                "gen_dir": home.gen_dir,
                "ports": ",".join(str(port) for _node, port in self.nodes),
                "publish_port": self.nodes[0][1],
                "procs": ",".join(procs),
                "redis_port": self.redis.port,
                **settings,
            }
        )
        command = ["taskset", "-c", self.args.generator_cpu, "node", str(GENERATOR)]
        command += [f"{key}={value}" for key, value in settings.items()]
        timeout = float(settings["hard_timeout"]) + 30
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"generator exited {done.returncode}: {done.stderr[-2000:]}")
        result = json.loads(done.stdout)
        if "error" in result:
            raise RuntimeError(result["error"])
        return result


def time_limits(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` with a time budget (`max_s`) that fits every one of its fixed `rates` at
    `step_s` (the generator skips a step that no longer fits, and the callers unpack one
    result per rate), and a hard timeout that leaves room for it after connecting."""
    steps = len(str(settings["rates"]).split(","))
    max_s = steps * (float(settings["step_s"]) + STEP_MARGIN_S)
    connect_s = float(settings.get("connect_timeout_s", CONNECT_S))
    given = float(settings.get("hard_timeout", HARD_TIMEOUT_S))
    hard = max(given, connect_s + max_s + SETUP_MARGIN_S)
    return {**settings, "max_s": max_s, "hard_timeout": hard}


def bus_wire(prefix: str, channel: str) -> dict[str, str]:
    """The bus channel a node listens on for `channel`, and a node's message for it with
    @@EVENT@@ in place of the event (see multinode_gen.js's bus_template), from the code."""
    from socketrush.adapters.messages import RemoteBroadcast, encode
    from socketrush.adapters.topics import channel_topic
    from socketrush.redis_client import RedisKeys

    broadcast = RemoteBroadcast(APP_ID, channel, b"@@EVENT@@", None)
    name = RedisKeys(prefix).topic(channel_topic(APP_ID, channel))
    return {"bus_channel": name, "bus_template": encode("scale-costs", broadcast).decode()}


def per_event_us(idle: dict[str, Any], loaded: dict[str, Any]) -> dict[str, float]:
    """Each process' CPU per published event, idle CPU subtracted, in µs."""
    rate = loaded["published_per_s"]
    return {
        name: round((loaded["cpu_pct"][name] - idle["cpu_pct"][name]) * 1e4 / rate, 2)
        for name in loaded["cpu_pct"]
    }


def cpu_run(
    args: argparse.Namespace, home: BenchHome, logs: Path, subs: int, channels: int = 1
) -> dict[str, Any]:
    """HTTP publishes to node a at --rate, in turn to `channels` channels; nodes a and b
    have `subs` subscribers each, spread evenly over the channels; node c has none."""
    with Deployment(args, 3, logs) as deployment:
        result = deployment.generate(
            home,
            {
                "subs_per_port": f"{subs},{subs},0",
                "channels": channels,
                "rates": f"0,{args.rate}",
                "start_rate": args.rate,
                "step_s": args.step_seconds,
                "p99_limit_ms": 1000,
            },
        )
    idle, loaded = result["steps"]
    return {
        "subs_per_node": subs,
        "channels": channels,
        "events_per_s": loaded["published_per_s"],
        "lost": loaded["lost"],
        "p99_ms": loaded["latency"]["p99_ms"],
        "cpu_pct_idle": idle["cpu_pct"],
        "cpu_pct_loaded": loaded["cpu_pct"],
        "us_per_event": per_event_us(idle, loaded),
        "redis": loaded["redis"],
    }


def bus_run(
    args: argparse.Namespace, home: BenchHome, logs: Path, listeners: int
) -> list[dict[str, Any]]:
    """Events put straight on the bus at each of --bus-rates: node a has one subscriber,
    node b none, and `listeners` more bus subscribers (redis-cli) listen too."""
    with Deployment(args, 2, logs, listeners) as deployment:
        result = deployment.generate(
            home,
            {
                "subs_per_port": "1,0",
                "rates": ",".join(["0", *map(str, args.bus_rates)]),
                "start_rate": args.bus_rates[0],
                "step_s": args.step_seconds,
                "p99_limit_ms": 1000,
                **bus_wire(deployment.prefix, "fanout-bench-0"),
            },
        )
    idle, *loaded = result["steps"]
    return [
        {
            "events_per_s": step["published_per_s"],
            "bus_listeners": 2 + listeners,
            "lost": step["lost"],
            "p99_ms": step["latency"]["p99_ms"],
            "us_per_event": per_event_us(idle, step),
            "redis": step["redis"],
        }
        for step in loaded
    ]


def median_of(runs: list[dict[str, Any]], *path: str) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value[key]
        values.append(value)
    return round(statistics.median(values), 2)


def cpu_phase(args: argparse.Namespace, home: BenchHome, logs: Path) -> dict[str, Any]:
    runs: dict[str, list[Any]] = {"one": [], "many": [], "cold": [], "bus": [], "bus_listeners": []}
    for _ in range(args.repeat):  # alternated, so drift of the machine hits all alike
        runs["one"].append(cpu_run(args, home, logs, 1))
        runs["many"].append(cpu_run(args, home, logs, args.subs))
        runs["cold"].append(cpu_run(args, home, logs, args.cold_subs, args.cold_channels))
        runs["bus"].append(bus_run(args, home, logs, 0))
        runs["bus_listeners"].append(bus_run(args, home, logs, args.listeners))
    one, many, cold = runs["one"], runs["many"], runs["cold"]
    receiving_one = median_of(one, "us_per_event", "node-b")
    hot = (median_of(many, "us_per_event", "node-b") - receiving_one) / (args.subs - 1)
    per_event = args.cold_subs / args.cold_channels  # a node's subscribers of one channel
    delivery = (median_of(cold, "us_per_event", "node-b") - receiving_one) / (per_event - 1)
    costs: dict[str, Any] = {
        "rate": args.rate,
        "delivery_us": round(delivery, 3),
        "delivery_hot_us": round(hot, 3),
        "publish_us": round(median_of(one, "us_per_event", "node-a") - delivery, 2),
        "receive_us": round(median_of(one, "us_per_event", "node-b") - delivery, 2),
        "receive_unsubscribed_us": median_of(one, "us_per_event", "node-c"),
        "redis_us": median_of(one, "us_per_event", "redis"),
        "bus_listeners": 3,
        "redis_publish_usec_per_call": median_of(one, "redis", "publish_usec_per_call"),
        "bus_in_bytes_per_event": median_of(one, "redis", "net_in_bytes_per_event"),
        "bus_out_bytes_per_event": median_of(one, "redis", "net_out_bytes_per_event"),
        "redis_commands_per_event": median_of(one, "redis", "commands_per_event"),
        "publishing_node_us_at_many": median_of(many, "us_per_event", "node-a"),
        "receiving_node_us_at_many": median_of(many, "us_per_event", "node-b"),
        "subs_many": args.subs,
        "cold_subs_per_node": args.cold_subs,
        "cold_channels": args.cold_channels,
    }
    # Receiving at load: the bus runs' figures at each rate (medians over the repeats); the
    # model takes the figure at a node's own rate (several messages per wake-up at load).
    curve = []
    for i in range(len(args.bus_rates)):
        alone = [run[i] for run in runs["bus"]]
        crowd = [run[i] for run in runs["bus_listeners"]]
        redis_alone = median_of(alone, "us_per_event", "redis")
        out_alone = median_of(alone, "redis", "net_out_bytes_per_event")
        curve.append({
            "events_per_s": median_of(alone, "events_per_s"),
            "receive_us": round(median_of(alone, "us_per_event", "node-a") - delivery, 2),
            "receive_unsubscribed_us": median_of(alone, "us_per_event", "node-b"),
            "redis_us": redis_alone,
            "bus_listeners": 2,
            "redis_us_per_listener": round(
                (median_of(crowd, "us_per_event", "redis") - redis_alone) / args.listeners, 3
            ),
            "bus_out_bytes_per_listener": round(
                (median_of(crowd, "redis", "net_out_bytes_per_event") - out_alone)
                / args.listeners,
                1,
            ),
            "lost": sum(step["lost"] for step in alone + crowd),
        })  # fmt: skip
    costs["receive_curve"] = curve
    return {"costs": costs, "runs": runs}


def memory_phase(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    results = {}
    with Redis(cpus=args.server_cpus) as redis:
        serve_args = f"--adapter-driver redis --redis-url {redis.url} --redis-prefix mem{uuid.uuid4().hex[:6]}"
        for count in args.connections:
            command = [sys.executable, str(IDLE), "--connections", str(count),
                       "--hold-seconds", "2", "--socketrush", str(args.socketrush),
                       "--serve-args", serve_args]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, timeout=400)
            if done.returncode != 0:
                raise RuntimeError(f"idle_connections failed: {done.stderr[-2000:]}")
            results[str(count)] = json.loads(done.stdout)
    return {
        "rss_per_conn_kb": {k: v["rss_per_conn_kb"] for k, v in results.items()},
        "base_rss_mib": {k: v["rss_before_mib"] for k, v in results.items()},
        "runs": results,
    }


def check_phase(
    args: argparse.Namespace, home: BenchHome, logs: Path, costs: dict[str, Any], memory: dict
) -> dict[str, Any]:
    runs = {}
    for layout in ("local", "spread"):
        with Deployment(args, args.check_nodes, logs) as deployment:
            result = deployment.generate(
                home,
                {
                    "subs": args.check_subs,
                    "channels": args.check_channels,
                    "layout": layout,
                    "rates": f"0,{args.check_rate}",
                    "start_rate": args.check_rate,
                    "step_s": args.step_seconds,
                    "window": 400,
                    "connect_timeout_s": 150,
                    "hard_timeout": 280,
                    "p99_limit_ms": 1000,
                },
            )
        idle, loaded = result["steps"]
        measured = {
            "events_per_s": loaded["published_per_s"],
            "lost": loaded["lost"],
            "p50_ms": loaded["latency"]["p50_ms"],
            "p99_ms": loaded["latency"]["p99_ms"],
            "cpu_pct_idle": idle["cpu_pct"],
            "cpu_pct": loaded["cpu_pct"],
            "rss_kb": loaded["rss_kb"],
            "redis": loaded["redis"],
        }
        predicted = scale_model.predict_check(
            costs,
            memory["rss_per_conn_kb"],
            nodes=args.check_nodes,
            subs=args.check_subs,
            channels=args.check_channels,
            layout=layout,
            rate=loaded["published_per_s"],
            idle_pct=idle["cpu_pct"],
            base_rss_mib=statistics.median(memory["base_rss_mib"].values()),
        )
        runs[layout] = {"measured": measured, "predicted": predicted}
    return runs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default="cpu,memory,check")
    parser.add_argument("--rate", type=float, default=100.0, help="events/s in the cpu phase")
    parser.add_argument("--subs", type=int, default=500, help="the cpu phase's large K")
    parser.add_argument("--cold-subs", type=int, default=5000, help="per node, over...")
    parser.add_argument("--cold-channels", type=int, default=100, help="...these channels")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--listeners", type=int, default=16, help="extra bus listeners")
    parser.add_argument("--bus-rates", type=lambda s: [float(x) for x in s.split(",")],
                        default=[200.0, 1000.0, 3000.0], help="events/s put on the bus")  # fmt: skip
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1000, 5000, 19900])  # fmt: skip
    parser.add_argument("--check-nodes", type=int, default=4)
    parser.add_argument("--check-subs", type=int, default=19900)
    parser.add_argument("--check-channels", type=int, default=100)
    parser.add_argument("--check-rate", type=float, default=100.0)
    parser.add_argument("--costs", type=Path, help="take the cpu and memory phases from this JSON")
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--generator-cpu", default="1")
    parser.add_argument("--socketrush", type=Path, default=ROOT / ".venv/bin/socketrush")
    parser.add_argument("--bench-home", type=Path,
                        default=Path(tempfile.gettempdir()) / "socketrush-two-nodes")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    phases = set(args.phases.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the generator's sockets
    home = BenchHome(args.bench_home).prepare()
    logs = args.bench_home / "logs" / f"scale-{time.strftime('%Y%m%d-%H%M%S')}"
    logs.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = json.loads(args.costs.read_text()) if args.costs else {}
    report.setdefault("load_average", {})
    for phase in ("cpu", "memory", "check"):
        if phase not in phases:
            continue
        before = load_average()
        if phase == "cpu":
            report["cpu"] = cpu_phase(args, home, logs)
        elif phase == "memory":
            report["memory"] = memory_phase(args, logs)
        else:
            report["check"] = check_phase(
                args, home, logs, report["cpu"]["costs"], report["memory"]
            )
        report["load_average"][phase] = {"before": before, "after": load_average()}
        sys.stderr.write(f"{phase} done, load {before} -> {load_average()}\n")
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stderr.write(scale_model.summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
