"""The hot path's lock-free counters and histograms read exactly as prometheus-client's own."""

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from minidiscord import metrics as metrics_module
from minidiscord.metrics import LATENCY_BUCKETS, Count, Latencies, Metrics


def _without_creation_times(text: bytes) -> str:
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 T", text.decode())


def test_a_count_and_latencies_render_as_prometheus_clients_counter_and_histogram() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    count = Count("things", "things seen", ours)
    latencies = Latencies("wait_seconds", "how long", LATENCY_BUCKETS, ours)
    counter = Counter("things", "things seen", registry=theirs)
    histogram = Histogram("wait_seconds", "how long", buckets=LATENCY_BUCKETS, registry=theirs)
    for amount in (1, 1, 998, 0.5):
        count.inc(amount)
        counter.inc(amount)
    # Zero, a value on a bound (counted in that bound's bucket), between bounds, beyond the
    # last bound (only in +Inf).
    for seconds in (0.0, 0.00005, 0.0001, 0.0003, 0.3, 2.5, 3.0, 600.0):
        latencies.observe(seconds)
        histogram.observe(seconds)
    rendered = _without_creation_times(generate_latest(ours))
    assert rendered == _without_creation_times(generate_latest(theirs))
    assert "things_total 1000.5\n" in rendered
    assert 'wait_seconds_bucket{le="0.0001"} 3.0\n' in rendered
    assert 'wait_seconds_bucket{le="2.5"} 6.0\n' in rendered
    assert 'wait_seconds_bucket{le="+Inf"} 8.0\n' in rendered
    assert re.search(r"\nthings_created \d", generate_latest(ours).decode())
    assert re.search(r"\nwait_seconds_created \d", generate_latest(ours).decode())


def test_the_servers_metrics_keep_their_names_and_order() -> None:
    metrics = Metrics()
    metrics.frames_delivered.inc(1000)
    metrics.store_commit_seconds.observe(0.002)
    text = metrics.render().decode()
    families = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE)
    assert [name for name, kind in families if not name.endswith("_created")] == [
        "minidiscord_connected_clients",
        "minidiscord_events_received_total",
        "minidiscord_chat_messages_total",
        "minidiscord_frames_delivered_total",
        "minidiscord_direct_write_rounds_total",
        "minidiscord_direct_write_clients_total",
        "minidiscord_slow_consumer_disconnects_total",
        "minidiscord_rejected_total",
        "minidiscord_store_commit_seconds",
        "minidiscord_fanout_seconds",
    ]
    assert "minidiscord_frames_delivered_total 1000.0\n" in text
    assert 'minidiscord_store_commit_seconds_bucket{le="0.0025"} 1.0\n' in text
    assert 'minidiscord_store_commit_seconds_bucket{le="0.001"} 0.0\n' in text


def test_they_refuse_what_prometheus_client_refuses() -> None:
    registry = CollectorRegistry()
    count = Count("things", "things seen", registry)
    with pytest.raises(ValueError, match="only grows"):
        count.inc(-1)
    with pytest.raises(ValueError, match="must increase"):
        Latencies("wait_seconds", "how long", (0.1, 0.01), registry)
    # The registry knows their names: a second metric of the same name is refused.
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("things", "again", registry=registry)


def test_the_created_series_follow_prometheus_clients_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics_module, "_CREATED_SERIES", False)
    registry = CollectorRegistry()
    Count("things", "things seen", registry).inc()
    Latencies("wait_seconds", "how long", LATENCY_BUCKETS, registry).observe(0.2)
    text = generate_latest(registry).decode()
    assert "things_total 1.0\n" in text
    assert 'wait_seconds_bucket{le="0.25"} 1.0\n' in text
    assert "_created" not in text
