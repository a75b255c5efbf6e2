"""Server CPU per delivery at fixed, sub-saturation rates, for two source trees side by side.

A deliveries-per-second maximum depends on the load generator as much as on the server (on
two cores it saturates first); the server's own CPU time per delivery at a fixed rate does
not. For each configuration (front end x shape) this alternates the trees' runs (A B A B ...,
``--runs`` of each): each run starts the chat server from that tree (``cwd`` and
``PYTHONPATH`` the tree; memory store, limits off, recovery and presence grace off where the
tree has those options) pinned to core 0, then ``scripts/loadtest.py`` from this tree pinned
to core 1 at a fixed rate, which reads the server's utime+stime over its sending window
(``server_cpu_s``). Per delivery = that / deliveries counted; per message = that / messages
sent. The load average before each run and the CPU the rest of the machine used during it
are recorded with each figure (the machine is shared).

Example (issue 14's check, BASE checked out in its own worktree)::

    python -m scripts.fanout_cost --tree base=/work/wt/fanout-base --tree head=. \\
        --config native:100x10x20 --config native:1000x10x2 --runs 4 --duration 10

A tree given as ``NAME=floor:PATH`` runs that tree's floor app (``scripts/floor_hypercorn.py``
with ``--tuned-gc``, ``--native`` for a native configuration) in the server's place, so our
server and the floor are compared the same way::

    python -m scripts.fanout_cost --tree floor=floor:. --tree head=. \
        --config hypercorn:100x10x15 --runs 3

Figures are for docs/benchmarks.md; nothing asserts them.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from benchkit.processes import ROOT, free_port, pinning, running, script_args, server_args
from scripts.loadtest import run_command

# Off where a tree knows them: a recovery buffer or a presence grace timer per connection
# is work the older tree cannot do, so both arms run without them.
OPTIONAL_OFF = (("--recovery-window", "0"), ("--presence-grace", "0"))
FLOOR_PREFIX = "floor:"


@dataclass(frozen=True)
class Tree:
    """A source tree to run the server from; with ``floor``, that tree's floor app
    (``scripts/floor_hypercorn.py``, the same delivery design without engine, Socket.IO
    layer or store) instead of the chat server."""

    name: str
    path: Path
    floor: bool = False


@dataclass(frozen=True)
class Config:
    """A front end and a load shape: clients, how many of them send, messages/s each."""

    frontend: str
    clients: int
    senders: int
    rate: float

    @property
    def label(self) -> str:
        return f"{self.frontend}:{self.clients}x{self.senders}x{self.rate:g}"

    @property
    def deliveries_per_s(self) -> float:
        return self.clients * self.senders * self.rate


@dataclass
class Run:
    tree: str
    config: str
    round: int
    load_1m: float
    server_cpu_s: float
    delivered: int
    sent: int
    us_per_delivery: float
    us_per_message: float
    server_cpu_percent: float
    loadgen_cpu_percent: float
    other_cpu_percent: float | None
    delivery_ratio: float | None
    p99_ms: float | None
    # Native front end: rounds of direct writes in the phase, and what each carried.
    rounds_per_s: float | None = None
    deliveries_per_round: float | None = None
    writes_per_round: float | None = None


def parse_tree(text: str) -> Tree:
    name, sep, path = text.partition("=")
    floor = path.startswith(FLOOR_PREFIX)
    path = path.removeprefix(FLOOR_PREFIX)
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError("a tree is NAME=PATH or NAME=floor:PATH")
    return Tree(name, Path(path).resolve(), floor)


def parse_config(text: str) -> Config:
    frontend, sep, shape = text.partition(":")
    parts = shape.split("x")
    if not sep or frontend not in ("hypercorn", "native") or len(parts) != 3:
        raise argparse.ArgumentTypeError("a config is FRONTEND:CLIENTSxSENDERSxRATE")
    try:
        return Config(frontend, int(parts[0]), int(parts[1]), float(parts[2]))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def tree_env(tree: Tree) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree.path)}


def known_options(tree: Tree) -> set[str]:
    """The command-line options this tree's server accepts (from its ``--help``)."""
    done = subprocess.run(
        server_args(None, "--help", unlimited=False),
        cwd=tree.path,
        env=tree_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    return {word.strip("[],") for word in done.stdout.split() if word.startswith(("--", "[--"))}


def server_command(tree: Tree, port: int, frontend: str, prefix: Sequence[str]) -> list[str]:
    if tree.floor:
        # With our server's garbage-collector settings, on the configuration's front end.
        native = ("--native",) if frontend == "native" else ()
        floor = script_args("floor_hypercorn", "--port", str(port), "--tuned-gc", *native)
        return [*prefix, *floor]
    known = known_options(tree)
    extra = [part for option in OPTIONAL_OFF if option[0] in known for part in option]
    options = ("--store", "memory", "--frontend", frontend, "--log-level", "warning")
    return [*prefix, *server_args(port, *options, *extra)]


def measure(tree: Tree, config: Config, round_: int, duration: float, nice: Sequence[str]) -> Run:
    """One run: a fresh server from ``tree``, ``config``'s fixed load for ``duration`` s."""
    server_prefix, load_prefix = pinning(nice)
    port = free_port()
    command = server_command(tree, port, config.frontend, server_prefix)
    load_1m = os.getloadavg()[0]
    with running(command, port, cwd=tree.path, env=tree_env(tree)) as server:
        report = run_command(
            f"http://127.0.0.1:{port}",
            *("-c", str(config.clients), "-s", str(config.senders), "-r", f"{config.rate:g}"),
            *("-d", f"{duration:g}", "--server-pid", str(server.pid)),
            # 1,000 chat connections take a while to connect and announce themselves.
            *("--connect-timeout", "60"),
            prefix=load_prefix,
        )
    result = report.get("result")
    if not result or "server_cpu_s" not in result or not result["delivered"]:
        raise RuntimeError(f"{tree.name} {config.label}: no deliveries measured: {report}")
    cpu = float(result["server_cpu_s"])
    return Run(
        tree=tree.name,
        config=config.label,
        round=round_,
        load_1m=round(load_1m, 2),
        server_cpu_s=cpu,
        delivered=int(result["delivered"]),
        sent=int(result["sent"]),
        us_per_delivery=round(1e6 * cpu / result["delivered"], 3),
        us_per_message=round(1e6 * cpu / result["sent"], 1),
        server_cpu_percent=float(result["server_cpu_percent"]),
        loadgen_cpu_percent=float(sum(result["loadgen_cpu_percent"])),
        other_cpu_percent=result.get("other_cpu_percent"),
        delivery_ratio=result["delivery_ratio"],
        p99_ms=result["latency_ms"]["p99"],
        **round_figures(result),
    )


def round_figures(result: dict[str, Any]) -> dict[str, float]:
    """Rounds/s over the phase's window, deliveries and writes per round (none for a server
    without the counters, or that wrote no round)."""
    rounds = result.get("server_rounds")
    if not rounds:
        return {}
    start, end = result["window"]
    return {
        "rounds_per_s": round(rounds / max(1e-6, end - start), 1),
        "deliveries_per_round": round(result["delivered"] / rounds, 1),
        "writes_per_round": round(result["server_round_writes"] / rounds, 1),
    }


def summarize(runs: Sequence[Run], trees: Sequence[Tree]) -> list[dict[str, Any]]:
    """Per configuration and tree: the median and range of CPU per delivery and per message,
    and each tree's median against the first tree's."""
    rows: list[dict[str, Any]] = []
    for config in dict.fromkeys(run.config for run in runs):
        reference: float | None = None
        for tree in trees:
            mine = [run for run in runs if run.config == config and run.tree == tree.name]
            if not mine:
                continue
            per_delivery = [run.us_per_delivery for run in mine]
            median = statistics.median(per_delivery)
            reference = median if reference is None else reference
            paired = paired_ratios(runs, config, trees[0].name, tree.name)
            interval = median_interval(paired)
            rows.append(
                {
                    "config": config,
                    "tree": tree.name,
                    "runs": len(mine),
                    "us_per_delivery_median": round(median, 3),
                    "us_per_delivery_min": min(per_delivery),
                    "us_per_delivery_max": max(per_delivery),
                    "us_per_message_median": statistics.median(r.us_per_message for r in mine),
                    "server_cpu_percent_median": statistics.median(
                        r.server_cpu_percent for r in mine
                    ),
                    "load_1m": [run.load_1m for run in mine],
                    "vs_first": round(median / reference, 3) if reference else None,
                    "paired_median": round(statistics.median(paired), 3) if paired else None,
                    "paired_min": round(min(paired), 3) if paired else None,
                    "paired_max": round(max(paired), 3) if paired else None,
                    "paired_median_95": [round(end, 3) for end in interval] if interval else None,
                }
            )
    return rows


def median_interval(
    values: Sequence[float], confidence: float = 0.95
) -> tuple[float, float] | None:
    """A distribution-free interval for the median of what ``values`` sample: the k-th
    smallest and k-th largest value, k the largest for which the true median lies between
    them with at least ``confidence`` (each value falls below it with chance one half, so
    the count below is binomial). None if too few values for any such k (fewer than 6 at
    95%). It assumes nothing of the noise's shape: a shared machine's spells are not
    normal, and one loaded round would drag a mean and its standard error."""
    ordered = sorted(values)
    n = len(ordered)
    tail = (1.0 - confidence) / 2
    # At the loop's top, P(fewer than k values below the median) <= tail; below adds the
    # chance of exactly k. k stays under n // 2 so that the two ends never cross (at 95%
    # the tail ends the loop long before).
    below = 0.0
    k = 0
    while k < n // 2:
        below += math.comb(n, k) / 2**n
        if below > tail:
            break
        k += 1
    if k == 0:
        return None
    return ordered[k - 1], ordered[n - k]


def paired_ratios(runs: Sequence[Run], config: str, first: str, tree: str) -> list[float]:
    """``tree``'s CPU per delivery over the first tree's, round by round: the two runs of a
    round are minutes apart at most, so a neighbour's load or a slower spell of the shared
    machine weighs on both, where it moves one tree's median against the other's."""
    by_round: dict[int, dict[str, float]] = {}
    for run in runs:
        if run.config == config and run.tree in (first, tree):
            by_round.setdefault(run.round, {})[run.tree] = run.us_per_delivery
    return [
        pair[tree] / pair[first]
        for pair in by_round.values()
        if first in pair and tree in pair and pair[first] > 0
    ]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| config | tree | runs | us/delivery median (min-max) | us/message median "
        "| server CPU % | vs first | same round vs first, median (min-max), its 95% interval "
        "| load avg 1m |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        loads = ", ".join(f"{load:.1f}" for load in row["load_1m"])
        paired = (
            f"x{row['paired_median']:.3f} (x{row['paired_min']:.3f}-x{row['paired_max']:.3f})"
            if row["paired_median"] is not None
            else "-"
        )
        if row["paired_median_95"] is not None:
            low, high = row["paired_median_95"]
            paired += f", 95%: x{low:.3f}-x{high:.3f}"
        lines.append(
            f"| {row['config']} | {row['tree']} | {row['runs']} "
            f"| {row['us_per_delivery_median']:.2f} ({row['us_per_delivery_min']:.2f}-"
            f"{row['us_per_delivery_max']:.2f}) | {row['us_per_message_median']:.0f} "
            f"| {row['server_cpu_percent_median']:.0f} | x{row['vs_first']:.3f} | {paired} "
            f"| {loads} |"
        )
    return "\n".join(lines)


def bench(
    trees: Sequence[Tree],
    configs: Sequence[Config],
    runs: int,
    duration: float,
    nice: Sequence[str] = (),
    log: Any = None,
) -> list[Run]:
    """Every configuration, its trees' runs alternating, in the given order in even rounds
    and reversed in odd ones (a machine growing busier or quieter over a round then favours
    neither); ``log`` gets a line per run."""
    done: list[Run] = []
    for config in configs:
        for round_ in range(runs):
            for tree in trees if round_ % 2 == 0 else list(reversed(trees)):
                run = measure(tree, config, round_, duration, nice)
                done.append(run)
                if log is not None:
                    print(orjson.dumps(asdict(run)).decode(), file=log, flush=True)
                # Let the stopped server's sockets and the load generator's go before the next.
                time.sleep(1.0)
    return done


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tree",
        type=parse_tree,
        action="append",
        help="NAME=PATH of a source tree to run the server from, or NAME=floor:PATH to run "
        "that tree's floor app (scripts/floor_hypercorn.py) instead (repeat; the first is "
        "the reference); default: this tree alone",
    )
    parser.add_argument(
        "--config",
        type=parse_config,
        action="append",
        help="FRONTEND:CLIENTSxSENDERSxRATE, e.g. native:1000x10x2 (repeat)",
    )
    parser.add_argument("--runs", type=int, default=4, help="runs per tree and config")
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds of sending")
    parser.add_argument("--nice", default="", help="e.g. -5: run both sides under nice")
    parser.add_argument("--json", action="store_true", help="print runs and summary as JSON")
    args = parser.parse_args(argv)
    args.tree = args.tree or [Tree("this", ROOT)]
    args.config = args.config or [parse_config("native:100x10x20")]
    if args.runs < 1 or args.duration <= 0:
        parser.error("runs must be >= 1 and duration > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    nice = ("nice", "-n", args.nice) if args.nice else ()
    runs = bench(args.tree, args.config, args.runs, args.duration, nice, log=sys.stderr)
    rows = summarize(runs, args.tree)
    if args.json:
        report = {"runs": [asdict(run) for run in runs], "summary": rows}
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
