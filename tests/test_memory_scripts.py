"""scripts/idle_capacity.py and scripts/memory_profile.py: short real runs (a real server,
real clients from scripts/loadtest.py); the figures themselves are not judged."""

import argparse
import subprocess
import sys

import pytest

from benchkit.processes import ROOT
from scripts import idle_capacity
from tests.support.scriptruns import script_record


def test_a_tree_is_a_name_and_a_path() -> None:
    tree = idle_capacity.parse_tree(f"base={ROOT}")
    assert tree.name == "base"
    assert tree.path == ROOT.resolve()
    with pytest.raises(argparse.ArgumentTypeError):
        idle_capacity.parse_tree("no-name")


def test_idle_capacity_holds_its_clients_and_reports_memory_per_connection() -> None:
    record = script_record(
        "idle_capacity", "--clients", "20", "--hold", "0.5", "--run-timeout", "120"
    )
    assert record["tree"] == "head"
    assert (record["connected"], record["still_connected"], record["failed"]) == (20, 20, 0)
    assert record["server_rss_kib"]["after"] > 0
    assert isinstance(record["kib_per_connection"], float)


def test_memory_profile_charges_allocations_to_our_lines() -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "scripts.memory_profile", "--clients", "20"),
            *("--frames", "8", "--tracebacks", "--top", "10", "--hold", "60"),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=180,
        check=True,
    )
    out = done.stdout.decode()
    assert "20 connections held (engineio, native front end)" in out
    assert "traced by tracemalloc:" in out
    assert "by the innermost minidiscord line" in out
    assert "objects added per connection, by type" in out
