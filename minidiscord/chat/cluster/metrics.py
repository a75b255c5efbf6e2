"""The cluster side of /metrics: read from the node when scraped, never on a hot path
(except the bus delay, one histogram observation per message shown)."""

from collections.abc import Iterator

import trio
from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from .node import ClusterNode

# From a same-host hop (about a millisecond) to a Redis outage (seconds).
DELAY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _Reconnects(Collector):
    """How often this node's log reader and heartbeat lost Redis and got it back."""

    def __init__(self, node: ClusterNode) -> None:
        self._node = node

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "minidiscord_redis_reconnects",
            "times this node's log reader or heartbeat lost Redis and got it back",
            labels=["part"],
        )
        family.add_metric(["reader"], self._node.reader.reconnects)
        family.add_metric(["heartbeat"], self._node.heartbeat_reconnects)
        yield family


def register(registry: CollectorRegistry, node: ClusterNode) -> None:
    """Add this node's bus lag and delay, node count and Redis troubles to ``registry``."""
    delay = Histogram(
        "minidiscord_bus_delay_seconds",
        "from a message's acceptance by its sender's node to its showing on this node "
        "(store commit plus the log hop; wall clocks of both hosts)",
        buckets=DELAY_BUCKETS,
        registry=registry,
    )
    node.reader.on_delay = delay.observe
    registry.register(_Reconnects(node))
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
