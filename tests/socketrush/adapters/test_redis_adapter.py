"""Redis-only deployments of the adapter: Redis Cluster and TLS (the tests every bus runs are
in test_cross_node.py)."""

from __future__ import annotations

from tests.support.nodes import assert_cross_node_delivery


def test_redis_cluster_delivers_across_nodes(redis_cluster, nodes_on) -> None:
    assert_cross_node_delivery(nodes_on(redis_cluster.url, 2, "--redis-cluster", "true"))


def test_redis_over_tls_delivers_across_nodes(redis_tls, nodes_on) -> None:
    assert_cross_node_delivery(nodes_on(redis_tls.url, 2))
