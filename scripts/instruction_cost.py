"""Instructions per chat message inside the app, counted by valgrind: unmoved by the load.

``scripts/message_cost.py`` reports CPU time, which moves 10-20% between runs on two shared
cores; a cut of a few microseconds cannot be told from that. This runs it under valgrind's
cachegrind, which counts the instructions the process executes, twice per tree: with
``--small`` and with ``--large`` messages per round (each run is a warm-up round and one
measured round), so that what both runs share (start-up, imports, the joins) cancels out of
the difference. Instructions are not time (cache misses and the kernel's share are left
out), but two runs of the same tree agree within about 1%, so a cut shows as what it is.

    python -m scripts.instruction_cost --tree base=/path/to/worktree --tree ours=.
    python -m scripts.instruction_cost --tree ours=. --app floor --clients 100

Needs ``valgrind`` (``apt-get install valgrind``). Each run takes about a minute at 2
clients. Figures are for docs/benchmarks.md; nothing asserts them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

INSTRUCTIONS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(tree: Path, app: str, clients: int, messages: int) -> int:
    """Instructions ``message_cost`` executes from ``tree`` with ``messages`` per round."""
    command = [
        *("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"),
        *(sys.executable, "-m", "scripts.message_cost", "--app", app),
        *("--clients", str(clients), "--messages", str(messages), "--rounds", "1"),
    ]
    done = subprocess.run(
        command,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    found = INSTRUCTIONS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"message_cost under valgrind failed in {tree}: {done.stderr[-1000:]}")
    return int(found.group(1).replace(",", ""))


def per_message(tree: Path, app: str, clients: int, small: int, large: int) -> float:
    # Two rounds each (message_cost's warm-up and the measured one).
    difference = instructions(tree, app, clients, large) - instructions(tree, app, clients, small)
    return difference / (2 * (large - small))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tree", action="append", required=True, help="NAME=PATH of a source tree (repeat)"
    )
    parser.add_argument("--app", choices=("ours", "floor"), default="ours")
    parser.add_argument("--clients", type=int, default=2, help="members of the room (sender too)")
    parser.add_argument("--small", type=int, default=300, help="messages per round, first run")
    parser.add_argument("--large", type=int, default=1300, help="messages per round, second run")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print(
            "instruction_cost: valgrind is not installed (apt-get install valgrind)",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.small < args.large:
        parser.error("--small must be above 0 and below --large")
    for spec in args.tree:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            parser.error("a tree is NAME=PATH")
        figure = per_message(Path(path).resolve(), args.app, args.clients, args.small, args.large)
        record = {"tree": name, "app": args.app, "clients": args.clients}
        print(json.dumps({**record, "instructions_per_message": round(figure)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
