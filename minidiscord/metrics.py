"""Prometheus metrics of one server, in a registry of its own (no process-global state).

Hot paths update counters once per broadcast, never once per recipient: a broadcast to a
thousand members adds a thousand to ``frames_delivered`` in one call.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Commit and fan-out times span microseconds (a small room) to a second (a stalled disk).
LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.connected = Gauge(
            "minidiscord_connected_clients",
            "Engine.IO sessions open now (any transport)",
            registry=registry,
        )
        self.events_received = Counter(
            "minidiscord_events_received",
            "Socket.IO events received from clients",
            registry=registry,
        )
        self.chat_messages = Counter(
            "minidiscord_chat_messages",
            "chat messages stored and broadcast",
            registry=registry,
        )
        self.frames_delivered = Counter(
            "minidiscord_frames_delivered",
            "encoded frames queued for clients (one per recipient of a broadcast)",
            registry=registry,
        )
        # Deliveries per round (frames_delivered over rounds) and writes per round say how
        # much each round's system calls carry.
        self.direct_write_rounds = Counter(
            "minidiscord_direct_write_rounds",
            "rounds of direct writes (native front end): one write per client with frames",
            registry=registry,
        )
        self.direct_write_clients = Counter(
            "minidiscord_direct_write_clients",
            "clients written to in rounds of direct writes (one system call each)",
            registry=registry,
        )
        self.slow_consumers = Counter(
            "minidiscord_slow_consumer_disconnects",
            "clients dropped because their outgoing buffer was full",
            registry=registry,
        )
        self.rejected = Counter(
            "minidiscord_rejected",
            "requests, packets and events refused, by reason",
            ["reason"],
            registry=registry,
        )
        self.store_commit_seconds = Histogram(
            "minidiscord_store_commit_seconds",
            "time for the store to commit a chat message (it is broadcast only after)",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.fanout_seconds = Histogram(
            "minidiscord_fanout_seconds",
            "time to encode one broadcast and queue it for every recipient",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def reject(self, reason: str) -> None:
        self.rejected.labels(reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
