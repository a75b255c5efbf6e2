"""Prometheus metrics of one server, in a registry of its own (no process-global state).

Hot paths update counters once per broadcast, never once per recipient: a broadcast to a
thousand members adds a thousand to ``frames_delivered`` in one call.

What a chat message touches on its way (events, messages, frames, rounds of direct writes,
the commit and fan-out times) is kept by :class:`Count` and :class:`Latencies`: a plain
number, or a bucket list found by bisection, unlocked (updated and read in the server's
trio thread only), each a collector of its registry that gives the same samples as
prometheus-client's own Counter and Histogram when ``/metrics`` is read. prometheus-client
takes a lock on every update, for threads these metrics never see, and walks the buckets
one by one: its eight updates cost a chat message about 6 us on this machine.
"""

import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = CONTENT_TYPE_LATEST
# How prometheus-client writes a bucket's bound ("le"): 5e-05, 1.0, +Inf.
_bound_label = cast(Callable[[float], str], floatToGoString)
# prometheus-client's own switch for the _created series, read as it reads it.
_CREATED_SERIES = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in (
    "true",
    "1",
    "t",
)

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


class _Unlocked:
    """What :class:`Count` and :class:`Latencies` share: a name, a help text, a creation
    time, and a place as a collector of their registry."""

    __slots__ = ("created", "documentation", "name")

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.created = time.time()
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        raise NotImplementedError

    def describe(self) -> Iterator[Metric]:
        # Its name, for the registry's check against another metric of the same name.
        return self.collect()


class Count(_Unlocked):
    """A counter updated and read in the server's trio thread only (no lock)."""

    __slots__ = ("value",)

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.value = 0.0
        super().__init__(name, documentation, registry)

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError(f"a counter only grows: {amount}")
        self.value += amount

    def collect(self) -> Iterator[Metric]:
        created = self.created if _CREATED_SERIES else None
        yield CounterMetricFamily(self.name, self.documentation, value=self.value, created=created)


class Latencies(_Unlocked):
    """A histogram of seconds updated and read in the server's trio thread only (no lock)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(
        self,
        name: str,
        documentation: str,
        bounds: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError(f"bucket bounds must increase: {bounds}")
        self.bounds = tuple(bounds)
        # One more than the bounds: the +Inf bucket.
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        super().__init__(name, documentation, registry)

    def observe(self, seconds: float) -> None:
        # A value on a bound counts in that bound's bucket ("le"), as Prometheus has it.
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def collect(self) -> Iterator[Metric]:
        cumulative = []
        seen = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            seen += count
            cumulative.append((_bound_label(bound), float(seen)))
        family = HistogramMetricFamily(
            self.name, self.documentation, buckets=cumulative, sum_value=self.total
        )
        if _CREATED_SERIES:
            family.add_sample(self.name + "_created", {}, self.created)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.connected = Gauge(
            "minidiscord_connected_clients",
            "Engine.IO sessions open now (any transport)",
            registry=registry,
        )
        self.events_received = Count(
            "minidiscord_events_received",
            "Socket.IO events received from clients",
            registry,
        )
        self.chat_messages = Count(
            "minidiscord_chat_messages",
            "chat messages stored and broadcast",
            registry,
        )
        self.frames_delivered = Count(
            "minidiscord_frames_delivered",
            "encoded frames queued for clients (one per recipient of a broadcast)",
            registry,
        )
        # Deliveries per round (frames_delivered over rounds) and writes per round say how
        # much each round's system calls carry.
        self.direct_write_rounds = Count(
            "minidiscord_direct_write_rounds",
            "rounds of direct writes (native front end): one write per client with frames",
            registry,
        )
        self.direct_write_clients = Count(
            "minidiscord_direct_write_clients",
            "clients written to in rounds of direct writes (one system call each)",
            registry,
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
        self.store_commit_seconds = Latencies(
            "minidiscord_store_commit_seconds",
            "time for the store to commit a chat message (it is broadcast only after)",
            LATENCY_BUCKETS,
            registry,
        )
        self.fanout_seconds = Latencies(
            "minidiscord_fanout_seconds",
            "time to encode one broadcast and queue it for every recipient",
            LATENCY_BUCKETS,
            registry,
        )

    def reject(self, reason: str) -> None:
        self.rejected.labels(reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
