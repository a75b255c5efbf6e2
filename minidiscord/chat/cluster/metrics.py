"""The cluster side of /metrics: read from the node when scraped, never on a hot path."""

import trio
from prometheus_client import CollectorRegistry, Gauge

from .node import ClusterNode


def register(registry: CollectorRegistry, node: ClusterNode) -> None:
    """Add this node's bus lag, node count and Redis troubles to ``registry``."""
    Gauge(
        "minidiscord_bus_lag_entries",
        "log entries this node had not yet applied at its last heartbeat",
        registry=registry,
    ).set_function(node.lag)
    Gauge(
        "minidiscord_bus_lag_seconds",
        "seconds since this node's log reader last heard from Redis",
        registry=registry,
    ).set_function(lambda: _since(node.reader.last_read) if node.reader.last_read else 0.0)
    Gauge(
        "minidiscord_cluster_nodes",
        "nodes registered in the cluster at this node's last heartbeat",
        registry=registry,
    ).set_function(lambda: node.nodes)
    Gauge(
        "minidiscord_redis_trouble",
        "1 while this node's log reader or heartbeat cannot reach Redis, else 0",
        registry=registry,
    ).set_function(lambda: 0 if node.health() is None else 1)


def _since(then: float) -> float:
    try:
        return max(0.0, trio.current_time() - then)
    except RuntimeError:
        return 0.0  # scraped outside trio (never, in the server; a test's registry maybe)
