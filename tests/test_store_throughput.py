"""scripts/store_throughput.py runs: every store takes messages, its figures add up, and
the Redis/SQLite ratio is reported (a short run; the figures themselves are not judged)."""

import argparse
from pathlib import Path

from scripts.store_throughput import bench, parse_args, summary
from tests.support.redisserver import RedisServer


async def test_a_short_run_measures_every_store(redis: RedisServer, tmp_path: Path) -> None:
    args: argparse.Namespace = parse_args(
        ["--senders", "5", "--duration", "0.3", "--warmup", "0.1", "--repeats", "1"]
    )
    assert redis.process is not None
    runs = await bench(args, tmp_path, redis.url, redis.process.pid)
    assert [run.store for run in runs] == ["sqlite", "redis", "memory"]
    for run in runs:
        assert run.messages > 0
        assert run.messages_per_s > 0
        assert run.client_cpu_us > 0
    on_redis = runs[1]
    # Grouped: never more round trips than messages; the private server's CPU is counted.
    assert on_redis.groups is not None
    assert 0 < on_redis.groups <= on_redis.messages
    assert on_redis.redis_cpu_us is not None
    assert runs[2].groups is None
    assert "redis_over_sqlite" in summary(runs)
