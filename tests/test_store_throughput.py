"""scripts/store_throughput.py runs: every store takes messages, its figures add up, and
the Redis/SQLite ratio is reported (a short run; the figures themselves are not judged)."""

import argparse

from scripts.store_throughput import bench, parse_args, summary


async def test_a_short_run_measures_every_store() -> None:
    args: argparse.Namespace = parse_args(
        ["--senders", "5", "--duration", "0.3", "--warmup", "0.1", "--repeats", "1"]
    )
    runs = await bench(args)
    assert [run.store for run in runs] == ["sqlite", "redis", "memory"]
    for run in runs:
        assert run.messages > 0
        assert run.messages_per_s > 0
        assert run.client_cpu_us > 0
    redis = runs[1]
    # Grouped: never more round trips than messages; the private server's CPU is counted.
    assert redis.groups is not None
    assert 0 < redis.groups <= redis.messages
    assert redis.redis_cpu_us is not None
    assert runs[2].groups is None
    assert "redis_over_sqlite" in summary(runs)
