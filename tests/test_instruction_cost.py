"""scripts/instruction_cost.py: a short real run under valgrind (CI installs it), and its
one-line refusal without valgrind; the figure itself is not judged, only that it is a count
of a message's instructions."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from benchkit.processes import ROOT, script_args
from tests.support.scriptruns import script_record

pytestmark = pytest.mark.slow


def needs_valgrind() -> None:
    if shutil.which("valgrind") is None and os.environ.get("CI") != "true":
        pytest.skip("valgrind is not installed (CI installs it)")


def test_it_counts_the_instructions_and_cache_misses_of_a_message() -> None:
    """One run with the caches simulated: valgrind runs are the suite's slowest tests."""
    needs_valgrind()
    record = script_record(
        "instruction_cost",
        *("--tree", f"here={ROOT}", "--app", "floor", "--small", "10", "--large", "40"),
        "--cache",
        timeout=300,
    )
    assert (record["tree"], record["app"], record["clients"]) == ("here", "floor", 2)
    # Some hundred thousand on this machine: neither nothing nor a whole run's.
    instructions = record["instructions_per_message"]
    assert 10_000 < instructions < 10_000_000
    # A message misses the first-level caches now and then, never on every instruction.
    for count in ("i1_misses_per_message", "d1_misses_per_message"):
        assert 0 < record[count] < instructions / 10, count
    # The last level misses only what the first missed (a difference of two runs: near 0).
    first_level = record["i1_misses_per_message"] + record["d1_misses_per_message"]
    assert record["ll_misses_per_message"] <= first_level


def test_without_valgrind_it_says_so_in_one_line() -> None:
    done = subprocess.run(
        script_args("instruction_cost", "--tree", f"here={ROOT}"),
        cwd=ROOT,
        env={**os.environ, "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == "instruction_cost: valgrind is not installed (apt-get install valgrind)\n"


def test_a_tree_without_the_app_is_one_line_of_error(tmp_path: Path) -> None:
    needs_valgrind()
    done = subprocess.run(
        script_args(
            "instruction_cost", "--tree", f"empty={tmp_path}", "--small", "1", "--large", "2"
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"instruction_cost: message_cost under valgrind failed in {tmp_path}: ")
    assert "No module named 'scripts'" in line
