"""The cross-server broadcast benchmark runs, end to end, on a small load (its figures are
for the docs, never asserted)."""

import json
import subprocess

from benchkit.processes import ROOT, script_args
from tests.support.redisserver import redis_server_executable


def test_the_adapter_benchmark_runs_and_delivers_every_broadcast() -> None:
    redis_server_executable()
    done = subprocess.run(
        script_args(
            "adapter_bench", "--clients", "2", "--messages", "200", "--rate", "200",
            "--duration", "0.2",
        ),
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert figures["burst_complete"] is True
    assert figures["lost_for_b"] == 0
    assert figures["latency_ms"]["p50"] is not None
