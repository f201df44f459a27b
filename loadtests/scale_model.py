"""The scale model of docs/scaling.md: from the measured per-part costs (scale_costs.py) to
what a deployment needs. Pure functions, no I/O.

A cost is CPU time of one core per unit (µs), or bytes, or KB of RSS:

- `publish_us`: the node whose HTTP API takes an event (request, checks, encoding, the bus
  PUBLISH, the copy of its own publish the bus hands back), per event;
- `receive_us`: a node with subscribers to the channel, per event it takes off the bus
  (decode, app and channel hops), its deliveries not included;
- `receive_unsubscribed_us`: a node with none, per event the bus still hands it;
- `delivery_us`: one WebSocket frame to one local subscriber;
- `redis_us` (with `bus_listeners` nodes listening) and `redis_us_per_listener`: Redis' own
  CPU per PUBLISH; `bus_in/out_bytes_per_event`, `bus_out_bytes_per_listener`: Redis' bytes
  (the model takes the last, measured with extra listeners).

The receiving and Redis figures fall as the rate grows (more messages per wake-up): they are
measured at `rate` and along `receive_curve`, and taken at the rate in question (`at_rate`).
"""

from __future__ import annotations

import math
from typing import Any

CORE_BUDGET = 0.7  # plan a node or a Redis shard at 70 % of its core: headroom for bursts
NIC_BYTES_PER_S = 125e6  # 1 Gbit/s per node and per Redis shard (a common cloud instance)
FRAME_BYTES = 200  # one delivered event on a client's socket, frame + TCP/IP (~100 B payload)
HOST_RAM_PER_NODE_GB = 2.0  # planned RSS per node process (one core, ~2 GB each)


def rss_per_conn(rss_per_conn_kb: dict[str, float], connections: float) -> float:
    """KB per connection at `connections`, from the nearest measured count at or above it."""
    counts = sorted((int(k), v) for k, v in rss_per_conn_kb.items())
    for count, value in counts:
        if connections <= count:
            return value
    return counts[-1][1]


def at_rate(points: list[tuple[float, float]], rate: float) -> float:
    """The figure at `rate`, interpolated on log(rate) between measured (rate, figure)
    points; the nearest end outside them."""
    points = sorted(points)
    if rate <= points[0][0]:
        return points[0][1]
    for (low, low_value), (high, high_value) in zip(points, points[1:], strict=False):
        if rate <= high:
            share = math.log(rate / low) / math.log(high / low)
            return low_value + share * (high_value - low_value)
    return points[-1][1]


def receive_cost(costs: dict[str, Any], key: str, rate: float) -> float:
    """`receive_us` or `receive_unsubscribed_us` for a node taking `rate` events/s off the bus."""
    points = [(costs["rate"], costs[key])]
    points += [(p["events_per_s"], p[key]) for p in costs.get("receive_curve", [])]
    return max(0.0, at_rate(points, max(rate, 1e-9)))


def redis_us(costs: dict[str, Any], listeners: float, rate: float) -> float:
    """Redis' CPU per PUBLISH that `listeners` nodes receive, at `rate` PUBLISHes/s: a base
    and a cost per listener, both from the bus runs (`receive_curve`)."""
    curve = costs["receive_curve"]
    slope = at_rate([(p["events_per_s"], p["redis_us_per_listener"]) for p in curve], rate)
    base = at_rate(
        [(p["events_per_s"], p["redis_us"] - p["bus_listeners"] * p["redis_us_per_listener"])
         for p in curve],
        rate,
    )  # fmt: skip
    return max(0.0, base) + max(0.0, slope) * listeners


def bus_out_bytes(costs: dict[str, Any], listeners: float) -> float:
    """Bytes Redis sends per PUBLISH that `listeners` nodes receive (one message each), per
    listener as the bus runs measured it: the difference made by the extra listeners, which
    holds whether or not the nodes route by interest (then fewer of them listen)."""
    per_listener = [p["bus_out_bytes_per_listener"] for p in costs["receive_curve"]]
    return listeners * sum(per_listener) / len(per_listener)


def routed(costs: dict[str, Any]) -> bool:
    """Whether the measured code routes by interest: a node without subscribers then takes
    (almost) nothing off the bus."""
    return costs["receive_unsubscribed_us"] < 0.1 * max(costs["receive_us"], 1.0)


def unsubscribed_cost(costs: dict[str, Any]) -> str:
    """The cost to charge, without routing, for an event a node has no subscribers for.
    Measured on routing code, such a node is not handed the event at all (~0 µs), so the
    nearest measured cost of taking a message off the bus stands in: that of a node with
    subscribers, deliveries excluded (pessimistic by the channel hop it skips)."""
    return "receive_us" if routed(costs) else "receive_unsubscribed_us"


def predict_check(
    costs: dict[str, Any],
    rss_per_conn_kb: dict[str, float],
    *,
    nodes: int,
    subs: int,
    channels: int,
    layout: str,
    rate: float,
    idle_pct: dict[str, float],
    base_rss_mib: float,
) -> dict[str, Any]:
    """Each node's CPU % and RSS and Redis' CPU % for scale_costs.py's check: events in turn
    to `channels` channels of subs/channels subscribers each, published through node a;
    `layout` local (a channel's subscribers on one node) or spread (on every node).

    `rss_kb_per_node` is in KiB, as /proc reports RSS (and the check measures it), from a
    base in MiB and a per-connection figure in kB (1000 bytes, see idle_connections.py)."""
    per_channel = subs / channels
    mine = 1 / nodes  # the share of events whose channel a node holds (local layout)
    interested = receive_cost(costs, "receive_us", rate)
    uninterested = receive_cost(costs, "receive_unsubscribed_us", rate)
    cpu: dict[str, float] = {}
    for index in range(nodes):
        name = f"node-{chr(ord('a') + index)}"
        if layout == "local":
            deliveries = mine * per_channel
            bus = 0.0 if index == 0 else mine * interested + (1 - mine) * uninterested
        else:
            deliveries = per_channel / nodes
            bus = 0.0 if index == 0 else interested
        own = costs["publish_us"] if index == 0 else 0.0
        us = own + bus + deliveries * costs["delivery_us"]
        cpu[name] = round(idle_pct.get(name, 0.0) + rate * us / 1e4, 1)
    listeners = nodes
    if routed(costs):
        listeners = (1 + 1) if layout == "local" else nodes  # the owner and the publisher
    redis = redis_us(costs, listeners, rate)
    cpu["redis"] = round(idle_pct.get("redis", 0.0) + rate * redis / 1e4, 1)
    conns = subs / nodes
    rss = round(base_rss_mib * 1024 + conns * rss_per_conn(rss_per_conn_kb, conns) * 1000 / 1024)
    return {"cpu_pct": cpu, "rss_kb_per_node": rss, "bus_listeners_per_event": listeners}


# -- deployments ------------------------------------------------------------------------------

# The workload the tables of docs/scaling.md assume (see there for why):
SHAPE = {
    "channels_per_connection": 2,  # a private per-user channel and one shared room
    "room_size": 20,  # subscribers of a room, on nodes chosen by the load balancer at random
    "user_channel_events_per_s": 0.01,  # per user channel (a notification every 100 s)
    "room_events_per_s": 0.1,  # per room (a message every 10 s)
}


def nodes_holding(subscribers: float, nodes: int) -> float:
    """Expected number of nodes holding at least one of `subscribers` placed at random."""
    return nodes * (1 - (1 - 1 / nodes) ** subscribers)


def deployment(
    costs: dict[str, Any],
    rss_per_conn_kb: dict[str, float],
    nodes: int,
    connections: float,
    routing: bool,
    shape: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Load of each node and of the bus for `connections` spread evenly over `nodes`."""
    shape = shape or SHAPE
    room = shape["room_size"]
    rooms = connections / room
    user_events = connections * shape["user_channel_events_per_s"]
    room_events = rooms * shape["room_events_per_s"]
    events = user_events + room_events
    deliveries = user_events + room_events * room
    holding_room = nodes_holding(room, nodes)
    if routing:  # the owner(s) of a channel's subscribers, and the publishing node
        bus_messages = user_events * min(nodes, 2) + room_events * min(nodes, holding_room + 1)
        interested = (user_events + room_events * holding_room) / nodes
        uninterested = 0.0
    else:  # every node takes every event off the bus
        bus_messages = events * nodes
        interested = (user_events + room_events * holding_room) / nodes
        uninterested = events - interested
    taken = interested + uninterested  # what one node takes off the bus per second
    node_us = (
        events / nodes * costs["publish_us"]
        + interested * receive_cost(costs, "receive_us", taken)
        + uninterested * receive_cost(costs, unsubscribed_cost(costs), taken)
        + deliveries / nodes * costs["delivery_us"]
    )
    listeners = bus_messages / events
    redis_core = events * redis_us(costs, listeners, events) / 1e6
    bus_bytes = events * bus_out_bytes(costs, listeners)
    per_node = connections / nodes
    return {
        "nodes": nodes,
        "connections": connections,
        "routing": routing,
        "connections_per_node": per_node,
        "events_per_s": events,
        "deliveries_per_s": deliveries,
        "node_cpu": node_us / 1e6,
        "node_rss_gb": per_node * rss_per_conn(rss_per_conn_kb, per_node) / 1e6,
        "node_nic": deliveries / nodes * FRAME_BYTES / NIC_BYTES_PER_S,
        "bus_messages_per_s": bus_messages,
        "redis_cpu_cores": redis_core,
        "redis_nic": bus_bytes / NIC_BYTES_PER_S,
        # classic PUBLISH reaches every shard of a cluster: only routed (SPUBLISH) traffic spreads
        "redis_shards": max(
            1, math.ceil(max(redis_core, bus_bytes / NIC_BYTES_PER_S) / CORE_BUDGET)
        )
        if routing
        else None,
    }


def saturates_first(row: dict[str, Any]) -> str:
    """The part nearest its limit: a node's core, its RAM or NIC, or the bus."""
    loads = {
        "node event loop": row["node_cpu"] / CORE_BUDGET,
        "node memory": row["node_rss_gb"] / HOST_RAM_PER_NODE_GB,
        "node network": row["node_nic"],
        "Redis CPU" if row["routing"] is False else "Redis CPU (per shard)": row["redis_cpu_cores"]
        / (CORE_BUDGET * (row["redis_shards"] or 1)),
        "Redis network": row["redis_nic"] / (row["redis_shards"] or 1),
    }
    part = max(loads, key=loads.get)
    return f"{part} ({loads[part]:.0%} of its budget)"


def bus_fits(row: dict[str, Any]) -> bool:
    """Whether the bus carries `row` within budget. Without routing that is one Redis: a
    classic PUBLISH reaches every shard of a Redis Cluster, so shards add no capacity; with
    routing (sharded pub/sub) `redis_shards` are added as needed."""
    if row["routing"]:
        return True
    return row["redis_cpu_cores"] <= CORE_BUDGET and row["redis_nic"] <= 1.0


def summary(report: dict[str, Any]) -> str:
    """A text table of what scale_costs.py measured, and the check against the model."""
    lines = []
    if "cpu" in report:
        for key, value in report["cpu"]["costs"].items():
            lines.append(f"{key:<32} {value}")
    if "memory" in report:
        lines.append(f"{'rss_per_conn_kb':<32} {report['memory']['rss_per_conn_kb']}")
    for layout, run in report.get("check", {}).items():
        measured, predicted = run["measured"], run["predicted"]
        lines.append(f"check {layout}: {measured['events_per_s']} ev/s, lost {measured['lost']}")
        for name, pct in measured["cpu_pct"].items():
            lines.append(
                f"  {name:<8} CPU {pct:>6} % (model {predicted['cpu_pct'].get(name)} %)"
                f"  RSS {measured['rss_kb'].get(name, 0) / 1024:.1f} MiB"
            )
        lines.append(f"  model RSS per node {predicted['rss_kb_per_node'] / 1024:.1f} MiB")
    return "\n".join(lines) + "\n"


def nodes_needed(
    costs: dict[str, Any], rss_per_conn_kb: dict[str, float], connections: float, routing: bool
) -> int | None:
    """The fewest nodes whose cores and memory stay within budget (None: no count does,
    because every node's share of the bus alone is over its core)."""
    nodes = 1
    while nodes <= 100_000:
        row = deployment(costs, rss_per_conn_kb, nodes, connections, routing)
        if row["node_cpu"] <= CORE_BUDGET and row["node_rss_gb"] <= HOST_RAM_PER_NODE_GB:
            return nodes
        nodes = math.ceil(nodes * 1.05) if nodes > 20 else nodes + 1
    return None


def markdown_tables(costs: dict[str, Any], rss_per_conn_kb: dict[str, float]) -> str:
    """The deployment tables of docs/scaling.md."""
    lines = [
        "| connections | nodes | routing | conns/node | node CPU | node RSS | bus msgs/s "
        "| Redis CPU | Redis out | saturates first |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for connections in (1e6, 1e7):
        for nodes in (10, 100, 1000):
            for routing in (False, True):
                row = deployment(costs, rss_per_conn_kb, nodes, connections, routing)
                shards = f" ({row['redis_shards']} shards)" if row["redis_shards"] else ""
                lines.append(
                    f"| {connections / 1e6:g} M | {nodes} | {'yes' if routing else 'no'} "
                    f"| {row['connections_per_node']:,.0f} | {row['node_cpu']:.0%} "
                    f"| {row['node_rss_gb']:.2f} GB | {row['bus_messages_per_s']:,.0f} "
                    f"| {row['redis_cpu_cores']:.2f} cores{shards} "
                    f"| {row['redis_nic']:.0%} of 1 Gbit/s | {saturates_first(row)} |"
                )
    lines += ["", "| connections | routing | nodes needed | Redis then |", "|---:|---|---:|---|"]
    for connections in (1e6, 1e7):
        for routing in (False, True):
            needed = nodes_needed(costs, rss_per_conn_kb, connections, routing)
            if needed is None:
                lines.append(
                    f"| {connections / 1e6:g} M | {'yes' if routing else 'no'} | none fits | |"
                )
                continue
            row = deployment(costs, rss_per_conn_kb, needed, connections, routing)
            verdict = "" if bus_fits(row) else ": over one Redis, no node count fits"
            lines.append(
                f"| {connections / 1e6:g} M | {'yes' if routing else 'no'} | {needed:,} "
                f"| {row['redis_cpu_cores']:.2f} cores, {row['redis_nic']:.0%} of 1 Gbit/s, "
                f"{row['redis_shards'] or 1} shard(s){verdict} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import json
    import sys

    report = json.load(open(sys.argv[1]))  # noqa: SIM115 (a one-shot CLI)
    sys.stdout.write(markdown_tables(report["cpu"]["costs"], report["memory"]["rss_per_conn_kb"]))
