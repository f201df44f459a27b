"""Soak: hours of a week's traffic in minutes, with the server's own figures watched for leaks.

    .venv/bin/python -m loadtests.soak --seconds 900 > soak.json   # a table on stderr
    .venv/bin/python -m loadtests.soak --phases cluster --faults --seconds 300

Each phase starts fresh processes: `single` one node, `cluster` two nodes on one Redis (real
redis-server; adapter, cache and queue drivers all redis). Against them, until --seconds
pass: churners connect, join public, private, presence, encrypted and cache channels, sign
in with watchlists, send client events and leave (close frame, unsubscribe, TCP reset);
listeners hold subscriptions to stream channels that a publisher fills through the HTTP API
(single and batch triggers, alternating nodes); client-event pairs count every event; every
webhook goes to a receiver in its own process. Every --sample-seconds the nodes' figures are
read (RSS, descriptors, the census: greenlets, actors, mailboxes, timers, channels, members).

A phase passes when, after warm-up, no figure grows with time (RSS within --rss-bound MiB per
10 minutes, judged over five minutes or more), every figure is back at its baseline once every
client has left (every channel actor of an empty channel gone), no acknowledged event and no
webhook was lost, and the logs hold no traceback and the metrics no actor restart. With
--faults the cluster phase also restarts Redis, SIGKILLs a node and starts it again, and
pauses the receiver; trends are then reported, not judged (a restarted node ramps up), and
losses are classified by fault (see soak_faults.py and docs/reliability.md).

Every loop is bounded by --seconds, sockets stay far below 19,900 per process, and all traffic
stays on 127.0.0.1.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # the pusher SDK publishes through `requests`: it must yield, not block

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from loadtests import soak_phase  # noqa: E402

MAX_SOCKETS = 19_900


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default="single,cluster", help="single, cluster or both")
    parser.add_argument("--seconds", type=float, default=60.0, help="load per phase")
    parser.add_argument("--faults", action="store_true", help="inject faults (cluster phase)")
    parser.add_argument("--churners", type=int, default=60, help="restless clients at once")
    parser.add_argument("--hold-max", type=float, default=2.0, help="longest churner stay (s)")
    parser.add_argument("--listeners", type=int, default=30, help="long-lived subscribers")
    parser.add_argument("--stream-channels", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20.0, help="HTTP publishes per second")
    parser.add_argument("--pairs", type=int, default=4, help="client-event pairs")
    parser.add_argument("--pair-interval", type=float, default=0.2)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--warm-up", type=float, default=0.3, help="share of --seconds")
    parser.add_argument("--rss-bound", type=float, default=10.0, help="MiB per 10 minutes")
    parser.add_argument("--node-timeout", type=int, default=10, help="node_timeout_seconds")
    parser.add_argument("--redis-down", type=float, default=3.0, help="seconds Redis is away")
    parser.add_argument("--node-down", type=float, default=20.0, help="seconds until restart")
    parser.add_argument("--receiver-pause", type=float, default=60.0, help="seconds paused")
    parser.add_argument(
        "--member-removed-delay-ms", type=int, default=3000,
        help="the nodes' webhook_member_removed_delay_ms (the removals held in Redis are "
        "lost when --faults restarts Redis empty)",
    )  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="logs and records (default: a temp dir)")
    args = parser.parse_args(argv)
    sockets = args.churners + args.listeners + 2 * args.pairs + 20
    if sockets > MAX_SOCKETS:
        parser.error(f"{sockets} sockets: keep them under {MAX_SOCKETS} per process")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="socketrush-soak-"))
    results: list[dict[str, Any]] = []
    for name in args.phases.split(","):
        phase_dir = workdir / name
        phase_dir.mkdir(parents=True, exist_ok=True)
        nodes = 1 if name == "single" else 2
        results.append(soak_phase.run(name, nodes, args, phase_dir, faults=args.faults))
    verdict = {
        "passed": all(r["passed"] for r in results),
        "workdir": str(workdir),
        "phases": results,
    }
    json.dump(verdict, sys.stdout, indent=2)
    print(file=sys.stdout)
    soak_phase.print_table(verdict, sys.stderr)
    return 0 if verdict["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
