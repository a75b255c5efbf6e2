"""The per-recipient broadcast cost benchmark runs, end to end, on a small room (its
figures are for the docs, never asserted)."""

import json
import subprocess

from benchkit.processes import ROOT, script_args


def test_the_broadcast_cost_benchmark_runs_and_every_client_reads_every_broadcast() -> None:
    done = subprocess.run(
        script_args("broadcast_cost", "--clients", "20", "--batches", "3", "--warmup", "1"),
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert figures["all_delivered"] is True
    assert figures["clients"] == 20
    assert figures["ns_per_recipient_median"] > 0


def test_the_broadcast_cost_benchmark_refuses_an_empty_room() -> None:
    done = subprocess.run(
        script_args("broadcast_cost", "--clients", "0"),
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "must be >= 1" in done.stderr
    assert "Traceback" not in done.stderr
