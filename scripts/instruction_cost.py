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
    python -m scripts.instruction_cost --tree ours=. --clients 100 --cache   # and misses

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

# What cachegrind's summary counts (on its standard error), by the name reported here; the
# misses only with its cache simulation (``--cache``: level 1 and the last level, as
# cachegrind models this machine's caches; the level between is not modelled).
COUNTS = {
    "instructions": re.compile(r"I\s+refs:\s+([\d,]+)"),
    "i1_misses": re.compile(r"I1\s+misses:\s+([\d,]+)"),
    "d1_misses": re.compile(r"D1\s+misses:\s+([\d,]+)"),
    "ll_misses": re.compile(r"LL misses:\s+([\d,]+)"),
}
# message_cost's measured rounds; it runs one more first, to warm up.
ROUNDS = 1


def counts(tree: Path, app: str, clients: int, messages: int, cache: bool) -> dict[str, int]:
    """What ``message_cost`` executes from ``tree`` with ``messages`` per round: its
    instructions, and with ``cache`` its cache misses."""
    command = [
        *("valgrind", "--tool=cachegrind", f"--cache-sim={'yes' if cache else 'no'}"),
        "--cachegrind-out-file=/dev/null",
        *(sys.executable, "-m", "scripts.message_cost", "--app", app),
        *("--clients", str(clients), "--messages", str(messages), "--rounds", str(ROUNDS)),
    ]
    done = subprocess.run(
        command,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    wanted = COUNTS if cache else {"instructions": COUNTS["instructions"]}
    found = {name: pattern.search(done.stderr) for name, pattern in wanted.items()}
    if done.returncode != 0 or not all(found.values()):
        # valgrind's own lines start with ==PID==; the last other one is Python's error.
        own = [line for line in done.stderr.splitlines() if line and not line.startswith("==")]
        why = own[-1] if own else f"exit status {done.returncode}"
        raise RuntimeError(f"message_cost under valgrind failed in {tree}: {why}")
    return {name: int(match.group(1).replace(",", "")) for name, match in found.items() if match}


def per_message(
    tree: Path, app: str, clients: int, small: int, large: int, cache: bool = False
) -> dict[str, float]:
    fewer = counts(tree, app, clients, small, cache)
    more = counts(tree, app, clients, large, cache)
    messages = (ROUNDS + 1) * (large - small)
    return {name: (more[name] - fewer[name]) / messages for name in more}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tree", action="append", required=True, help="NAME=PATH of a source tree (repeat)"
    )
    parser.add_argument("--app", choices=("ours", "floor"), default="ours")
    parser.add_argument("--clients", type=int, default=2, help="members of the room (sender too)")
    parser.add_argument("--small", type=int, default=300, help="messages per round, first run")
    parser.add_argument("--large", type=int, default=1300, help="messages per round, second run")
    parser.add_argument(
        "--cache",
        action="store_true",
        help="simulate the caches too: level-1 and last-level misses per message (slower)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.small < args.large or args.clients < 1:
        parser.error("--small must be above 0 and below --large, --clients at least 1")
    trees: list[tuple[str, Path]] = []
    for spec in args.tree:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path or not Path(path).is_dir():
            parser.error(f"a tree is NAME=PATH, PATH a directory: {spec}")
        trees.append((name, Path(path).resolve()))
    if shutil.which("valgrind") is None:
        print(
            "instruction_cost: valgrind is not installed (apt-get install valgrind)",
            file=sys.stderr,
        )
        return 2
    for name, path in trees:
        try:
            figures = per_message(path, args.app, args.clients, args.small, args.large, args.cache)
        except RuntimeError as exc:
            print(f"instruction_cost: {exc}", file=sys.stderr)
            return 1
        record = {"tree": name, "app": args.app, "clients": args.clients}
        record |= {f"{count}_per_message": round(value) for count, value in figures.items()}
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
