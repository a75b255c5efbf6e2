"""Idle connections one server process holds, and the resident memory each one costs.

For each source tree given (``--tree NAME=PATH``; by default this one), runs alternate
(A B A B ...): a fresh chat server from that tree (``cwd`` and ``PYTHONPATH`` the tree;
memory store, limits off, the chosen front end) pinned to core 0, then
``scripts/loadtest.py`` from this tree pinned to core 1 opens ``--clients`` connections
(``--handshake engineio``: WebSocket sessions that never join, the idle-connection figure;
``socketio``: chat users, each joining with a name, so every join is announced to everyone
already there), waits until the server is quiet, holds them ``--hold`` seconds and reports
how many are still connected, the server's resident memory before and after, and the
difference per connection. The open-files limit is raised to its hard maximum first (both
processes inherit it).

An Engine.IO session that never sends a Socket.IO CONNECT is closed by the server after
``--connect-timeout`` (45 s by default): on a busy machine connecting 10,000 takes longer
than that, so the servers here get ``--server-connect-timeout`` (600 s) to keep the first
ones while the last connect. Every run is bounded: ``--run-timeout`` seconds at most.

Example (the branch point checked out in /tmp/base)::

    python -m scripts.idle_capacity --tree base=/tmp/base --tree head=. --clients 10000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchkit.processes import UNLIMITED, free_port, pinning, running
from benchkit.stats import raise_fd_limit
from scripts import loadtest


@dataclass(frozen=True)
class Tree:
    name: str
    path: Path


def parse_tree(text: str) -> Tree:
    name, separator, path = text.partition("=")
    if not separator or not name or not path:
        raise argparse.ArgumentTypeError("a tree is NAME=PATH")
    return Tree(name, Path(path).resolve())


def load_average() -> float:
    with open("/proc/loadavg") as file:
        return float(file.read().split()[0])


def measure(tree: Tree, args: argparse.Namespace, round_: int) -> dict[str, Any]:
    """One run: a fresh server from ``tree`` holding ``args.clients`` idle connections."""
    server_pin, load_pin = pinning()
    port = free_port()
    command = [
        *server_pin,
        sys.executable,
        *("-m", "minidiscord", "--port", str(port), *UNLIMITED),
        *("--frontend", args.frontend, "--store", "memory", "--log-level", "warning"),
        *("--connect-timeout", str(args.server_connect_timeout)),
        *args.server_option,
    ]
    env = {**os.environ, "PYTHONPATH": str(tree.path), "PYTHONWARNINGS": "ignore"}
    load = load_average()
    started = time.monotonic()
    with running(command, port, cwd=tree.path, env=env) as server:
        report = loadtest.run_command(
            f"http://127.0.0.1:{port}",
            *("-c", str(args.clients), "--handshake", args.handshake, "-d", "0"),
            *("--hold", str(args.hold), "--connect-concurrency", str(args.concurrency)),
            *("--connect-timeout", str(args.client_connect_timeout)),
            *("--server-pid", str(server.pid)),
            prefix=load_pin,
            timeout=args.run_timeout,
        )
    connect = report["connect"]
    return {
        "tree": tree.name,
        "round": round_,
        "handshake": args.handshake,
        "frontend": args.frontend,
        "clients": args.clients,
        "connected": connect["connected"],
        "still_connected": connect.get("still_connected"),
        "failed": connect["failed"],
        "connect_s": connect["time_s"],
        "settled_s": connect.get("settled_s"),
        "server_rss_kib": connect.get("server_rss_kib"),
        "kib_per_connection": connect.get("server_kib_per_connection"),
        "load_average": load,
        "run_s": round(time.monotonic() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=parse_tree, default=[])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--handshake", choices=("engineio", "socketio"), default="engineio")
    parser.add_argument("--frontend", choices=("native", "hypercorn"), default="native")
    parser.add_argument("--runs", type=int, default=1, help="runs of each tree, alternating")
    parser.add_argument("--hold", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=200, help="connects in flight")
    parser.add_argument("--client-connect-timeout", type=float, default=60.0)
    parser.add_argument("--server-connect-timeout", type=float, default=600.0)
    parser.add_argument("--run-timeout", type=float, default=900.0)
    parser.add_argument(
        "--server-option",
        action="append",
        default=[],
        help="one more argument for every server (repeat: --server-option=--recovery-window "
        "--server-option=0)",
    )
    parser.add_argument("--json", type=Path, help="also write every run's record here")
    args = parser.parse_args(argv)
    trees = args.tree or [Tree("head", Path(".").resolve())]
    soft = raise_fd_limit()
    if soft < args.clients + 1000:  # each side (server, load generator) holds one per client
        print(f"note: open-files limit {soft}; {args.clients} clients may not fit", file=sys.stderr)
    records: list[dict[str, Any]] = []
    for round_ in range(1, args.runs + 1):
        for tree in trees:
            try:
                record = measure(tree, args, round_)
            except (RuntimeError, OSError, KeyError, ValueError, subprocess.TimeoutExpired) as exc:
                record = {"tree": tree.name, "round": round_, "error": str(exc)[-500:]}
            records.append(record)
            print(json.dumps(record), flush=True)
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
