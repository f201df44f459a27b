"""One soak phase: start the processes, take each node's baseline, run the load (and the
faults), let every client leave, then judge: trends, leftovers, delivery, webhooks, logs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import gevent
from gevent.event import Event

from loadtests import soak_faults, soak_figures, soak_webhooks
from loadtests.soak_clients import Client, Kind, Leave
from loadtests.soak_delivery import (
    Ledger,
    Listener,
    Publisher,
    Session,
    close_http_connections,
    percentile,
    reckon,
)
from loadtests.soak_processes import Node, Receiver, Redis
from loadtests.soak_workload import APP, ChurnStats, PairStats, churn, pair, pick_alive


def progress(phase: str, what: str) -> None:
    """One line on stderr per step, so a long soak shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {phase}: {what}", file=sys.stderr, flush=True)


SETTLE_SECONDS = 30.0  # for every figure to return once the clients have left
WEBHOOK_DRAIN_SECONDS = 90.0  # for retried webhooks to arrive after the load
DRAIN_SECONDS = 3.0  # after the last publish, before the listeners stop


def node_flags(receiver: Receiver, redis: Redis | None, args: argparse.Namespace) -> list[str]:
    flags = [
        "--app-enable-client-messages", "true",
        "--app-webhooks-enabled", "true", "--app-webhook-url", receiver.url,
        "--app-has-channel-occupied-webhooks", "true",
        "--app-has-channel-vacated-webhooks", "true",
        "--app-has-member-added-webhooks", "true",
        "--app-has-member-removed-webhooks", "true",
        "--app-has-client-event-webhooks", "true",
        # Retries at most 5 s apart, so a paused receiver is caught up with soon after.
        "--webhook-retry-max-ms", "5000", "--webhook-max-attempts", "60",
        "--webhook-member-removed-delay-ms", str(args.member_removed_delay_ms),
    ]  # fmt: skip
    if redis is not None:
        flags += ["--adapter-driver", "redis", "--cache-driver", "redis"]
        flags += ["--queue-driver", "redis", "--redis-url", redis.url]
        flags += ["--node-timeout-seconds", str(args.node_timeout)]
    return flags


def baseline(node: Node, redis_port: int | None) -> dict[str, float]:
    """The node's figures after one client came and went (first-connection state is built),
    once two readings in a row agree."""
    warm_up = Client(node.port, APP)
    warm_up.join(Kind.PUBLIC, "warm-up")
    warm_up.leave(Leave.CLOSE)
    last: dict[str, float] = {}
    for _ in range(60):
        gevent.sleep(0.25)
        figures = soak_figures.read(node, redis_port)
        now = {k: v for k, v in figures.items() if k in soak_figures.BASELINE_FIGURES}
        if now == last and not now["connections"]:
            break
        last = now
    return last


def run(
    name: str, count: int, args: argparse.Namespace, workdir: Path, faults: bool
) -> dict[str, Any]:
    redis = Redis(workdir).start() if count > 1 else None
    receiver = Receiver(workdir).start()
    nodes = [Node(f"{name}-{n}", workdir, node_flags(receiver, redis, args)) for n in range(count)]
    try:
        for node in nodes:
            node.start()
        progress(name, f"{count} node(s) started")
        return _load_and_judge(name, nodes, redis, receiver, args, faults and count > 1)
    finally:
        for node in nodes:
            node.stop()
        receiver.stop()
        if redis is not None:
            redis.stop()


def _load_and_judge(
    name: str,
    nodes: list[Node],
    redis: Redis | None,
    receiver: Receiver,
    args: argparse.Namespace,
    faults: bool,
) -> dict[str, Any]:
    redis_port = redis.port if redis is not None else None
    baselines: dict[str, dict[str, float] | None] = {n.name: baseline(n, redis_port) for n in nodes}
    streams = [f"soak-stream-{n}" for n in range(args.stream_channels)]
    ledger, churned, pairs = Ledger(), ChurnStats(), PairStats()
    stop, stop_publishing = Event(), Event()
    listeners = [
        Listener(f"listener-{n}", nodes[n % len(nodes)], [streams[n % len(streams)],
                 streams[(n + 1) % len(streams)]], ledger)
        for n in range(args.listeners)
    ]  # fmt: skip
    progress(name, "baselines taken")
    started_listening = [gevent.spawn(listener.run) for listener in listeners]
    _await_sessions(ledger, len(listeners))
    probe = soak_faults.GhostProbe(nodes) if faults else None
    sampler = soak_figures.Sampler(nodes, args.sample_seconds, redis_port)
    workers = [
        gevent.spawn(churn, pick_alive(nodes), stop, churned, args.hold_max)
        for _ in range(args.churners)
    ]
    for number in range(args.pairs):
        sender = nodes[number % len(nodes)]
        # Under faults a pair stays on one node: the listeners measure what crosses nodes.
        peer = sender if faults else nodes[(number + 1) % len(nodes)]
        workers.append(gevent.spawn(pair, number, sender, peer, stop, pairs, args.pair_interval))
    publisher = Publisher(nodes, streams, ledger, args.rate)
    publishing = gevent.spawn(publisher.run, stop_publishing)
    sampling = gevent.spawn(sampler.run, stop)
    fault_log = soak_faults.FaultLog()
    injecting = None
    if faults:
        assert redis is not None and probe is not None
        schedule = soak_faults.Schedule(
            redis_at=args.seconds * 0.2, redis_down=args.redis_down,
            kill_at=args.seconds * 0.4, node_down=args.node_down,
            pause_at=args.seconds * 0.65, pause_for=args.receiver_pause,
            node_timeout=args.node_timeout,
        )  # fmt: skip
        injecting = gevent.spawn(
            soak_faults.run, schedule, nodes, redis, receiver, probe, stop, fault_log
        )
    progress(name, f"load running for {args.seconds:g}s")
    gevent.sleep(args.seconds)
    load_ended = time.monotonic() - sampler.started
    stop_publishing.set()
    publishing.join()
    gevent.sleep(DRAIN_SECONDS)
    stop.set()
    if injecting is not None:
        injecting.join()
    gevent.joinall(workers, timeout=15)
    for listener in listeners:
        listener.stop()
    gevent.joinall(started_listening, timeout=5)
    if probe is not None:
        probe.close()
    close_http_connections()
    sampling.join()
    sampler.sample()
    progress(name, "every client has left")
    for node in nodes:
        if node.starts > 1:
            baselines[node.name] = None  # a restarted node is judged against zero
    left = {
        node.name: soak_figures.settle(node, baselines[node.name], SETTLE_SECONDS, redis_port)
        for node in nodes
        if node.alive
    }
    progress(name, "figures settled")
    webhooks = _drained_webhooks(receiver, pairs)
    progress(name, "webhooks counted")
    return _verdict(
        name, nodes, args, sampler, load_ended, left, ledger, churned, pairs, webhooks,
        fault_log if faults else None,
    )  # fmt: skip


def _await_sessions(ledger: Ledger, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(ledger.sessions) < count and time.monotonic() < deadline:
        gevent.sleep(0.1)


def _drained_webhooks(receiver: Receiver, pairs: PairStats):
    """Poll the receiver's records until nothing is missing or the drain time is up."""
    deadline = time.monotonic() + WEBHOOK_DRAIN_SECONDS
    while True:
        verdict = soak_webhooks.check(soak_webhooks.read(receiver.records), pairs)
        if not verdict.lost or time.monotonic() > deadline:
            return soak_webhooks.read(receiver.records), verdict
        gevent.sleep(1.0)


def _verdict(
    name, nodes, args, sampler, load_ended, left, ledger, churned, pairs, webhooks, fault_log
) -> dict[str, Any]:
    failures: list[str] = []
    warm_up = args.seconds * args.warm_up
    trends = {}
    for node in nodes:
        judged = soak_figures.trend(sampler.series[node.name], warm_up, args.rss_bound, load_ended)
        trends[node.name] = judged
        if fault_log is None:  # a restart's ramp and an outage's dip are no trend
            failures += judged.failures
    for node_name, leftover in left.items():
        if leftover:
            failures.append(f"{node_name}: left behind once every client had gone: {leftover}")

    def lasted(session: Session) -> bool:
        return session.why_ended in (None, "stopped")

    delivery = reckon(ledger, lasted)
    windows = _fault_windows(fault_log, nodes)
    by_window = _classify(delivery.lost, windows)
    strict_lost = by_window.pop("outside", [])
    if strict_lost:
        failures.append(f"{len(strict_lost)} acknowledged events lost (outside any fault)")
    pair_lost = sum(
        len(set(sent) - pairs.received.get(sender, set()))
        for sender, sent in pairs.sent.items()
        if sender not in pairs.interrupted
    )
    if pair_lost:
        failures.append(f"{pair_lost} client events lost between pairs")
    if fault_log is None:  # without faults, nothing may fail at all
        ended = sum(1 for session in ledger.sessions if not lasted(session))
        for count, what in (
            (ended, "listener connections ended before the soak stopped them"),
            (sum(churned.errors.values()), f"churn cycles failed: {churned.errors}"),
            (ledger.publish_failures, "HTTP publishes failed"),
        ):
            if count:
                failures.append(f"{count} {what}")
    received, verdict = webhooks
    if verdict.lost:
        failures.append(f"webhooks lost: {verdict.lost} (see webhooks.unbalanced_*)")
    if verdict.repeated:
        failures.append(
            f"vacated/member_removed more than occupied/added: {verdict.repeated}"
            " (see webhooks.unbalanced_*)"
        )
    tracebacks = sum(node.log().count("Traceback") for node in nodes)
    if tracebacks:
        failures.append(f"{tracebacks} tracebacks in the server logs")
    restarts = {
        n: s.samples[-1].figures["restarts"] for n, s in sampler.series.items() if s.samples
    }
    if any(restarts.values()):
        failures.append(f"actor restarts: {restarts}")
    if fault_log is not None:
        failures += _fault_failures(fault_log)
    return {
        "phase": name,
        "nodes": len(nodes),
        "seconds": args.seconds,
        "passed": not failures,
        "failures": failures,
        "trends": {
            n: {
                "window_s": t.window,
                "samples": t.samples,
                "per_10_min": t.per_10_min,
                "growth": t.failures,
            }
            for n, t in trends.items()
        },
        "last_figures": {n: s.samples[-1].figures for n, s in sampler.series.items() if s.samples},
        "peak_figures": {
            n: {k: max(x.figures[k] for x in s.samples) for k in s.samples[0].figures}
            for n, s in sampler.series.items()
            if s.samples
        },
        "leftovers": left,
        "churn": {"cycles": churned.cycles, "errors": churned.errors},
        "delivery": {
            "published": len(ledger.published),
            "publish_failures": ledger.publish_failures,
            "sessions": len(ledger.sessions),
            "owed": delivery.owed,
            "lost": len(delivery.lost),
            "lost_outside_faults": len(strict_lost),
            "lost_in_fault_windows": _window_report(by_window, windows),
            "interrupted_owed": delivery.interrupted_owed,
            "interrupted_lost": len(delivery.interrupted_lost),
            "duplicates": delivery.duplicates,
            "p50_ms": percentile(delivery.latencies_ms, 0.5),
            "p99_ms": percentile(delivery.latencies_ms, 0.99),
        },
        "client_events": {
            "sent": sum(len(s) for s in pairs.sent.values()),
            "lost": pair_lost,
            "interrupted_pairs": len(pairs.interrupted),
        },
        "webhooks": {
            "requests": received.requests,
            "unique": received.unique,
            "by_name": dict(received.events),
            "client_events_checked": verdict.client_events_seen,
            "missing_client_events": verdict.missing_client_events,
            "unbalanced_channels": verdict.unbalanced_channels,
            "unbalanced_members": verdict.unbalanced_members,
        },
        "tracebacks": tracebacks,
        "actor_restarts": restarts,
        "faults": None if fault_log is None else _fault_report(fault_log),
    }


# Losses published this close to a fault are the fault's (the measured windows are reported);
# any other loss fails the phase.
BEFORE_FAULT_SECONDS = 2.0
AFTER_REDIS_SECONDS = 10.0  # the adapter re-subscribes with a backoff of up to 5 s
AFTER_KILL_SECONDS = 0.5


def _fault_windows(fault_log, nodes) -> dict[str, tuple[float, float, float, str | None]]:
    """name -> (from, to, fault end time, node the event must have gone through or None)."""
    if fault_log is None:
        return {}
    times, windows = fault_log.times, {}
    if "redis_up" in times:
        windows["redis_restart"] = (
            times["redis_down"] - BEFORE_FAULT_SECONDS,
            times["redis_up"] + AFTER_REDIS_SECONDS,
            times["redis_up"],
            None,
        )
    if "node_killed" in times:
        killed = times["node_killed"]
        windows["node_kill"] = (
            killed - BEFORE_FAULT_SECONDS, killed + AFTER_KILL_SECONDS, killed, nodes[1].name
        )  # fmt: skip
    return windows


def _classify(lost, windows) -> dict[str, list]:
    found: dict[str, list] = {}
    for loss in lost:
        event = loss.published
        name = next(
            (
                name
                for name, (begin, end, _, via) in windows.items()
                if begin <= event.sent <= end and via in (None, event.node)
            ),
            "outside",
        )
        found.setdefault(name, []).append(loss)
    return found


def _window_report(by_window: dict[str, list], windows) -> dict[str, Any]:
    """Per fault: how many events were lost and when the first and last of them were
    published, relative to the end of the fault (Redis back, or the kill); the same for the
    listeners on the node the event was published through: did the fault cut off only the
    other nodes?"""
    report = {}
    for name, (_, _, fault_end, _) in windows.items():
        losses = by_window.get(name, [])
        same_node = [loss for loss in losses if loss.node == loss.published.node]
        report[name] = {
            **_span(losses, fault_end),
            "on_publishing_node": _span(same_node, fault_end),
        }
    return report


def _span(losses: list, fault_end: float) -> dict[str, Any]:
    sent = [loss.published.sent for loss in losses]
    return {
        "lost": len(losses),
        "first_sent_s": round(min(sent) - fault_end, 2) if sent else None,
        "last_sent_s": round(max(sent) - fault_end, 2) if sent else None,
    }


def _fault_failures(log: soak_faults.FaultLog) -> list[str]:
    failures = list(log.errors)
    if log.ghost_gone_after is None:
        failures.append(
            f"ghost presence members after the node timeout: the survivor's API showed "
            f"{log.ghosts_seen_by_api}, its member saw {log.ghosts_seen_by_member}, "
            f"expected {log.ghosts_expected}"
        )
    return failures


def _fault_report(log: soak_faults.FaultLog) -> dict[str, Any]:
    start = min(log.times.values(), default=0.0)
    return {
        "times_s": {k: round(v - start, 2) for k, v in log.times.items()},
        "ghosts_gone_after_s": log.ghost_gone_after,
        "ghosts_expected": log.ghosts_expected,
        "errors": log.errors,
    }


def print_table(verdict: dict[str, Any], out: TextIO) -> None:
    for phase in verdict["phases"]:
        status = "PASS" if phase["passed"] else "FAIL"
        print(f"\n== {phase['phase']} ({phase['nodes']} node(s), {phase['seconds']:g}s): {status}",
              file=out)  # fmt: skip
        for node, trend in phase["trends"].items():
            slopes = trend["per_10_min"]
            print(f"  {node}: {trend['samples']} samples over {trend['window_s']}s after "
                  "warm-up; slope per 10 min:", file=out)  # fmt: skip
            for figure, value in slopes.items():
                last = phase["last_figures"].get(node, {}).get(figure)
                print(f"    {figure:<18} {value:>10}   (last {last})", file=out)
        delivery = phase["delivery"]
        print(f"  delivery: {delivery['owed']} owed, {delivery['lost']} lost, "
              f"p50 {delivery['p50_ms']} ms, p99 {delivery['p99_ms']} ms", file=out)  # fmt: skip
        print(f"  webhooks: {phase['webhooks']['unique']} unique, "
              f"{phase['webhooks']['by_name']}", file=out)  # fmt: skip
        for failure in phase["failures"]:
            print(f"  FAIL {failure}", file=out)
