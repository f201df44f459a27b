"""The scale model's arithmetic (loadtests/scale_model.py): pure functions, exact figures."""

from __future__ import annotations

import math

import pytest

from loadtests import scale_model

COSTS = {
    "rate": 100.0,
    "publish_us": 1000.0,
    "receive_us": 300.0,
    "receive_unsubscribed_us": 200.0,
    "delivery_us": 3.0,
    "redis_us": 60.0,
    "bus_listeners": 3,
    "bus_out_bytes_per_event": 1080.0,
    "receive_curve": [
        {"events_per_s": 1000.0, "receive_us": 100.0, "receive_unsubscribed_us": 50.0,
         "redis_us": 30.0, "bus_listeners": 2, "redis_us_per_listener": 5.0,
         "bus_out_bytes_per_listener": 350.0},
        {"events_per_s": 10000.0, "receive_us": 40.0, "receive_unsubscribed_us": 20.0,
         "redis_us": 12.0, "bus_listeners": 2, "redis_us_per_listener": 2.0,
         "bus_out_bytes_per_listener": 370.0},
    ],
}  # fmt: skip
MEMORY = {"1000": 5.0, "5000": 4.5, "19900": 4.0}


def test_a_figure_is_interpolated_on_the_log_of_the_rate_and_held_outside() -> None:
    points = [(100.0, 300.0), (1000.0, 100.0), (10000.0, 40.0)]
    assert scale_model.at_rate(points, 10.0) == 300.0
    assert scale_model.at_rate(points, 1000.0) == 100.0
    assert scale_model.at_rate(points, math.sqrt(100.0 * 1000.0)) == pytest.approx(200.0)
    assert scale_model.at_rate(points, 1e6) == 40.0


def test_receiving_and_redis_costs_come_from_the_curve_at_the_rate() -> None:
    assert scale_model.receive_cost(COSTS, "receive_us", 100.0) == 300.0
    assert scale_model.receive_cost(COSTS, "receive_unsubscribed_us", 10000.0) == 20.0
    # base 30 - 2 x 5 = 20 at 1000/s, plus 5 per listener
    assert scale_model.redis_us(COSTS, 10, 1000.0) == pytest.approx(70.0)


def test_nodes_holding_a_channel_tends_to_its_subscribers_or_the_nodes() -> None:
    assert scale_model.nodes_holding(20, 1) == pytest.approx(1.0)
    assert scale_model.nodes_holding(1, 100) == pytest.approx(1.0)
    assert scale_model.nodes_holding(20, 1000) == pytest.approx(19.81, abs=0.01)


def test_without_routing_every_node_takes_every_event_off_the_bus() -> None:
    plain = scale_model.deployment(COSTS, MEMORY, 100, 1e6, routing=False)
    routed = scale_model.deployment(COSTS, MEMORY, 100, 1e6, routing=True)
    assert plain["events_per_s"] == routed["events_per_s"] == pytest.approx(15_000)
    assert plain["deliveries_per_s"] == pytest.approx(110_000)
    assert plain["bus_messages_per_s"] == pytest.approx(15_000 * 100)
    assert routed["bus_messages_per_s"] < plain["bus_messages_per_s"] / 10
    assert routed["node_cpu"] < plain["node_cpu"]
    assert plain["redis_shards"] is None  # classic PUBLISH reaches every shard
    assert routed["redis_shards"] >= 1


def test_the_check_prediction_charges_the_publisher_and_the_owners() -> None:
    predicted = scale_model.predict_check(
        COSTS, MEMORY, nodes=4, subs=400, channels=4, layout="local", rate=100.0,
        idle_pct={}, base_rss_mib=64.0,
    )  # fmt: skip
    # node a: 1000 µs publish + a quarter of the events delivered to 100 subscribers each
    assert predicted["cpu_pct"]["node-a"] == pytest.approx(100 * (1000 + 25 * 3) / 1e4, abs=0.1)
    # node b: a quarter received with 100 deliveries, three quarters received for nothing
    expected_b = 100 * (0.25 * (300 + 100 * 3) + 0.75 * 200) / 1e4
    assert predicted["cpu_pct"]["node-b"] == pytest.approx(expected_b, abs=0.1)
    # in KiB, as /proc measures it: a 64 MiB base and 100 connections of 5 kB (1000 bytes)
    assert predicted["rss_kb_per_node"] == round(64 * 1024 + 100 * 5.0 * 1000 / 1024)


def test_unrouted_traffic_must_fit_one_redis_while_routed_traffic_adds_shards() -> None:
    plain = scale_model.deployment(COSTS, MEMORY, 10, 1e6, routing=False)
    crowded = scale_model.deployment(COSTS, MEMORY, 1000, 1e6, routing=False)
    routed = scale_model.deployment(COSTS, MEMORY, 1000, 1e7, routing=True)
    # 15,000 PUBLISH/s to 10 nodes: (base 12 - 2 x 2) + 2 x 10 = 28 µs each, 0.42 of a core
    assert plain["redis_cpu_cores"] == pytest.approx(0.42)
    assert scale_model.bus_fits(plain)
    assert not scale_model.bus_fits(crowded)  # the same PUBLISHes to 1,000 nodes
    assert scale_model.bus_fits(routed) and routed["redis_shards"] > 1


def test_without_routing_costs_measured_on_routing_code_charge_a_full_receive() -> None:
    routed_code = {**COSTS, "receive_unsubscribed_us": 0.0}
    routed_code["receive_curve"] = [
        {**point, "receive_unsubscribed_us": 0.0} for point in COSTS["receive_curve"]
    ]
    plain = scale_model.deployment(routed_code, MEMORY, 100, 1e6, routing=False)
    # 100 nodes, 15,000 events/s: each node takes all of them off the bus (15,000/s, held at
    # the curve's 10,000/s end: 40 µs each), publishes 150 (1000 µs) and delivers 1,100 (3 µs)
    assert plain["node_cpu"] == pytest.approx((15_000 * 40 + 150 * 1000 + 1_100 * 3) / 1e6)


def test_bytes_out_of_redis_are_the_measured_bytes_per_listener() -> None:
    # the mean of the bus runs' 350 and 370 B, not bus_out_bytes_per_event / bus_listeners
    assert scale_model.bus_out_bytes(COSTS, 10) == pytest.approx(3600.0)
    plain = scale_model.deployment(COSTS, MEMORY, 100, 1e6, routing=False)
    assert plain["redis_nic"] == pytest.approx(15_000 * 100 * 360.0 / 125e6)
