"""Side-by-side benchmark: minidiscord against python-socketio (and others) under the same load.

Each measurement starts a fresh server pinned to one core (taskset, where the machine has
two or more) and runs ``scripts/loadtest.py`` pinned to another, then stops the server, so no
run inherits another's users or memory. Prints a table with ratios against the
python-socketio peer. Example: ``python -m scripts.bench --quick``.

``--stores memory,sqlite,redis`` measures our server once per store: SQLite on a fresh
database file per run, Redis (cluster mode, one node) on a private ``redis-server`` per run
with ``appendfsync always`` (``benchkit.redis.running_redis``), so every store starts empty.
The ``messages`` part (not run by default) is acknowledged chat messages per second with a
small fan-out: every one of 20 clients sends. Example: ``python -m scripts.bench --frontends
native --no-peer --stores memory,sqlite,redis --parts messages,ramp1000``. The ``storm`` part
(not run by default) is 2,000 chat clients connecting at once (``loadtest -c 2000 -d 0``):
seconds until every CONNECT is answered and until every client knows every other user
(from its ``users`` list and the ``user:join``s after it, ``benchkit.acquaintances``); give
other servers with ``--target``, e.g. the original Node.js server copied out of
``../shared/peers/node-seed`` (``npm ci`` there): ``--target 'node=cmd:env PORT={port} node
/tmp/node-seed/server.cjs'``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchkit.processes import (
    HANDSHAKE,
    UNLIMITED,
    free_port,
    pinning,
    running,
    script_args,
    server_args,
    wait_ready,
)
from benchkit.redis import running_redis
from benchkit.stats import raise_fd_limit
from scripts import loadtest

BASELINE = "python-socketio"
PARTS = ("ramp100", "ramp1000", "connect", "capacity", "messages", "storm")
DEFAULT_PARTS = ("ramp100", "ramp1000", "connect", "capacity")
STORES = ("memory", "sqlite", "redis")
# The messages part: every client sends and asks for acks, so the fan-out stays small and
# the store's writes, not the broadcast, are what the server spends its time on.
MESSAGE_CLIENTS = 20
NOISE_WARN_PERCENT = 25.0


@dataclass(frozen=True)
class Target:
    """A server to measure: a command to start (with {port}) or the URL of one already running."""

    name: str
    command: tuple[str, ...] | None = None
    url: str | None = None
    store: str | None = None  # ours: which store to give the command (fresh for each run)


@dataclass(frozen=True)
class Plan:
    quick: bool
    ramp_step: float  # seconds of sending per ramp step
    ramp_steps: int
    connect_clients: int
    storm_clients: int
    capacity_clients: int
    big_clients: int
    procs: int
    timeout: float  # per loadtest run


NICE: list[str] = []  # set from --nice: a priority boost against busy neighbours


def note_fd_limit() -> None:
    # Servers and the load generator inherit the limit: 10,000 sockets need as many fds.
    soft = raise_fd_limit()
    if soft != resource.RLIM_INFINITY and soft < 12_000:
        print(f"note: open-files limit is {soft}; the capacity run may stop short", file=sys.stderr)


@contextmanager
def store_options(store: str | None) -> Iterator[list[str]]:
    """The server options for ``store``, backed by a fresh database (or redis-server) that
    lasts as long as the block."""
    if store is None:
        yield []
        return
    if store == "memory":
        yield ["--store", "memory"]
        return
    with tempfile.TemporaryDirectory(prefix=f"bench-{store}-") as directory:
        if store == "sqlite":
            yield ["--store", "sqlite", "--db", str(Path(directory) / "chat.db")]
        elif store == "redis":
            with running_redis(Path(directory)) as (url, _pid):
                yield ["--redis-url", url]
        else:
            raise ValueError(f"unknown store {store!r}")


@contextmanager
def running_target(target: Target, server_pin: list[str]) -> Iterator[tuple[str, int | None]]:
    """Start (or just use) a target; yields its URL and its pid when we started it."""
    if target.command is None:
        assert target.url is not None
        wait_ready(target.url, None, 20.0, probe=HANDSHAKE)
        yield target.url, None
        return
    with (
        store_options(target.store) as options,
        running_command(target, [*target.command, *options], server_pin) as running_at,
    ):
        yield running_at


@contextmanager
def running_command(
    target: Target, template: Sequence[str], server_pin: list[str]
) -> Iterator[tuple[str, int | None]]:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in template]
    env = {**os.environ, "MINIDISCORD_LOG_LEVEL": "warning", "PYTHONWARNINGS": "ignore"}
    with running(
        server_pin + command,
        port,
        probe=HANDSHAKE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as process:
        yield f"http://127.0.0.1:{port}", process.pid
    assert process.stderr is not None
    errors = process.stderr.read().decode(errors="replace").strip()
    if process.returncode not in (0, -signal.SIGTERM) and errors:
        print(f"[{target.name}] stderr:\n{errors[-2000:]}", file=sys.stderr)


def run_load(
    url: str, pid: int | None, args: Sequence[str], load_pin: list[str], timeout: float
) -> dict[str, Any]:
    options = [*args, *(("--server-pid", str(pid)) if pid is not None else ())]
    print(f"  $ loadtest --url {url} {' '.join(options)}", file=sys.stderr)
    return loadtest.run_command(url, *options, prefix=load_pin, timeout=timeout)


def measure(target: Target, plan: Plan, parts: Sequence[str]) -> dict[str, Any]:
    """Every selected measurement for one target, each on a freshly started server."""
    server_pin, load_pin = pinning(NICE)
    results: dict[str, Any] = {}
    ramp_duration = str(plan.ramp_step)
    # Start low enough to hold everywhere; the ramp doubles from there.
    loads: dict[str, list[str]] = {
        "ramp100": ["-c", "100", "-s", "10", "-r", "2", "--ramp"],
        "ramp1000": ["-c", str(plan.big_clients), "-s", "10", "-r", "0.25", "--ramp"],
        "connect": ["-c", str(plan.connect_clients), "--handshake", "engineio", "-d", "0"],
        "capacity": [
            *("-c", str(plan.capacity_clients), "--handshake", "engineio", "-d", "0"),
            *("--hold", "3", "--connect-concurrency", "200"),
        ],
        "messages": ["-c", str(MESSAGE_CLIENTS), "-s", str(MESSAGE_CLIENTS), "-r", "5", "--ramp"],
        # Chat clients joining at once: every join is announced to everyone already there.
        "storm": ["-c", str(plan.storm_clients), "-d", "0"],
    }
    for part in parts:
        args = loads[part] + ["-q", "--procs", str(plan.procs)]
        if "--ramp" in args:
            args += ["-d", ramp_duration, "--drain", "3", "--ramp-steps", str(plan.ramp_steps)]
        print(f"[{target.name}] {part}", file=sys.stderr)
        try:
            with running_target(target, server_pin) as (url, pid):
                results[part] = run_load(url, pid, args, load_pin, plan.timeout)
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
            print(f"[{target.name}] {part} failed: {exc}", file=sys.stderr)
            results[part] = {"error": str(exc)}
    return results


# --- the table -------------------------------------------------------------------------------


def dig(data: dict[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


@dataclass(frozen=True)
class Row:
    label: str
    get: Callable[[dict[str, Any]], float | None]
    higher_is_better: bool = True
    digits: int = 0


def ramp_rows(part: str, clients: str) -> list[Row]:
    return [
        Row(
            f"max sustained deliveries/s, {clients} clients",
            lambda r: dig(r, part, "result", "deliveries_per_s"),
        ),
        Row(
            "  p50 ms at that rate", lambda r: dig(r, part, "result", "latency_ms", "p50"), False, 1
        ),
        Row(
            "  p99 ms at that rate", lambda r: dig(r, part, "result", "latency_ms", "p99"), False, 1
        ),
        Row(
            "  server CPU % at that rate",
            lambda r: dig(r, part, "result", "server_cpu_percent"),
            False,
            0,
        ),
        Row(
            "  load generator CPU % (max proc)",
            lambda r: max(dig(r, part, "result", "loadgen_cpu_percent") or [0]) or None,
            False,
            0,
        ),
    ]


def acked_per_s(report: dict[str, Any]) -> float | None:
    """Messages acknowledged {ok: true} per second of sending, at the best rate that held."""
    result = dig(report, "messages", "result")
    if not result or not result.get("duration"):
        return None
    ok = result["acked"] - result["errors"].get("ack", 0)
    return float(ok / result["duration"])


def cpu_us_per_message(report: dict[str, Any]) -> float | None:
    """Server CPU per acknowledged message at that rate: steadier than the rate itself on a
    machine shared with other work."""
    result = dig(report, "messages", "result")
    ok = acked_per_s(report)
    if not result or not ok or "window" not in result or "server_cpu_percent" not in result:
        return None
    start, end = result["window"]
    cpu_s = result["server_cpu_percent"] / 100 * (end - start)
    return float(1e6 * cpu_s / (ok * result["duration"]))


def build_rows(plan: Plan) -> list[Row]:
    return [
        Row(
            f"max sustained messages/s acked, {MESSAGE_CLIENTS} clients all sending",
            acked_per_s,
        ),
        Row(
            "  p50 ms at that rate",
            lambda r: dig(r, "messages", "result", "latency_ms", "p50"),
            False,
            1,
        ),
        Row(
            "  p99 ms at that rate",
            lambda r: dig(r, "messages", "result", "latency_ms", "p99"),
            False,
            1,
        ),
        Row(
            "  server CPU % at that rate",
            lambda r: dig(r, "messages", "result", "server_cpu_percent"),
            False,
            0,
        ),
        Row("  server CPU us per acked message", cpu_us_per_message, False, 0),
        *ramp_rows("ramp100", "100"),
        *ramp_rows("ramp1000", str(plan.big_clients)),
        Row(
            f"chat connect, {plan.big_clients} clients: s to all CONNECT",
            lambda r: dig(r, "ramp1000", "connect", "time_s"),
            False,
            2,
        ),
        Row(
            "  s until the server is quiet (every client knows every other)",
            lambda r: dig(r, "ramp1000", "connect", "settled_s"),
            False,
            2,
        ),
        Row(
            f"  KiB per chat connection ({plan.big_clients})",
            lambda r: dig(r, "ramp1000", "connect", "server_kib_per_connection"),
            False,
            1,
        ),
        Row(
            f"websocket connect, {plan.connect_clients} clients: s",
            lambda r: dig(r, "connect", "connect", "time_s"),
            False,
            2,
        ),
        Row(
            f"chat connect storm, {plan.storm_clients} clients: s to all CONNECT",
            lambda r: dig(r, "storm", "connect", "time_s"),
            False,
            1,
        ),
        Row(
            "  s until every client knows every other user",
            lambda r: dig(r, "storm", "connect", "fanout_s"),
            False,
            1,
        ),
        Row(
            "  users told to a client twice",
            lambda r: dig(r, "storm", "connect", "acquaintances", "twice"),
            False,
        ),
        Row("  clients connected", lambda r: dig(r, "storm", "connect", "connected")),
        Row(
            "  KiB per chat connection",
            lambda r: dig(r, "storm", "connect", "server_kib_per_connection"),
            False,
            1,
        ),
        Row(
            f"capacity: idle connections held of {plan.capacity_clients}",
            lambda r: dig(r, "capacity", "connect", "still_connected"),
        ),
        Row(
            "  KiB per idle websocket connection",
            lambda r: dig(r, "capacity", "connect", "server_kib_per_connection"),
            False,
            1,
        ),
    ]


def fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def ratio(value: float | None, base: float | None, higher_is_better: bool) -> str:
    """How many times better than the baseline (>1 is better, whichever way the metric goes)."""
    if value is None or base is None or value == 0 or base == 0:
        return "-"
    return f"x{(value / base if higher_is_better else base / value):.2f}"


def render_table(results: dict[str, dict[str, Any]], plan: Plan) -> str:
    names = list(results)
    others = [name for name in names if name != BASELINE] if BASELINE in results else []
    header = ["metric", *names, *(f"{name} vs peer" for name in others)]
    rows = [header]
    for row in build_rows(plan):
        values = {name: row.get(results[name]) for name in names}
        if all(value is None for value in values.values()):
            continue  # a part not run
        line = [row.label, *(fmt(values[name], row.digits) for name in names)]
        line += [ratio(values[name], values[BASELINE], row.higher_is_better) for name in others]
        rows.append(line)
    widths = [max(len(line[i]) for line in rows) for i in range(len(header))]
    out = []
    for index, line in enumerate(rows):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def noise_notes(results: dict[str, dict[str, Any]]) -> list[str]:
    notes = []
    for name, parts in results.items():
        for part, report in parts.items():
            for phase in report.get("phases", []) if isinstance(report, dict) else []:
                other = phase.get("other_cpu_percent")
                if other is not None and other > NOISE_WARN_PERCENT:
                    notes.append(
                        f"{name} {part}: other processes used {other:.0f}% of a core during a "
                        f"step at {phase['deliveries_per_s']:,.0f}/s; figures may be low"
                    )
                    break
            for phase in report.get("phases", []) if isinstance(report, dict) else []:
                for error in phase.get("count_errors", []):
                    notes.append(
                        f"{name} {part}: counts do not match at {phase['rate']:g}/s: {error}"
                    )
            result = report.get("result") if isinstance(report, dict) else None
            if result and result.get("loadgen_bottleneck"):
                notes.append(f"{name} {part}: the load generator was near 100% of a core")
    return notes


# --- command line ----------------------------------------------------------------------------


# A word of a --target command that stands for our server's limits-off options
# (benchkit.processes.UNLIMITED), so a command for another tree need not spell them out.
LIMITS_OFF = "LIMITS_OFF"


def parse_target(text: str) -> Target:
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise argparse.ArgumentTypeError("expected NAME=URL or NAME=cmd:COMMAND WITH {port}")
    if spec.startswith("cmd:"):
        words = spec[4:].split()
        command = [w for word in words for w in (UNLIMITED if word == LIMITS_OFF else (word,))]
        return Target(name, command=tuple(command))
    return Target(name, url=spec.rstrip("/"))


# The peer keeps everything in memory and limits nothing: so does our server here (the
# store comes from --stores; memory unless asked).
OURS = tuple(server_args("{port}", "--log-level", "warning"))


def minidiscord_available() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "minidiscord", "--help"], capture_output=True, check=False
    )
    return done.returncode == 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter steps and smaller runs")
    parser.add_argument(
        "--parts",
        default=",".join(DEFAULT_PARTS),
        help=f"comma-separated subset of {','.join(PARTS)} (default: all but messages)",
    )
    parser.add_argument(
        "--target",
        action="append",
        type=parse_target,
        default=[],
        help="another server: NAME=http://host:port (already running) or "
        f"NAME=cmd:COMMAND (started per run; {{port}} is replaced, {LIMITS_OFF} stands for "
        "our server's limits-off options)",
    )
    parser.add_argument("--no-ours", action="store_true", help="skip minidiscord")
    parser.add_argument(
        "--frontends",
        default="hypercorn,native",
        help="which of our front ends to measure (comma-separated; default both)",
    )
    parser.add_argument(
        "--stores",
        default="memory",
        help="our server's stores to measure, each a target of its own (comma-separated of "
        f"{','.join(STORES)}; redis runs cluster mode on a private redis-server)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the python-socketio peer")
    parser.add_argument("--procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--capacity", type=int, help="clients for the capacity run")
    parser.add_argument(
        "--nice", type=int, help="run servers and load at this niceness (e.g. -5, needs root)"
    )
    parser.add_argument("--json", type=Path, help="also write every raw report to this file")
    args = parser.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {sorted(unknown)}")
    stores = [store.strip() for store in args.stores.split(",") if store.strip()]
    if not stores or set(stores) - set(STORES):
        parser.error(f"--stores: expected some of {','.join(STORES)}")
    plan = Plan(
        quick=args.quick,
        ramp_step=3.0 if args.quick else 5.0,
        ramp_steps=7 if args.quick else 10,
        connect_clients=500 if args.quick else 2000,
        storm_clients=500 if args.quick else 2000,
        capacity_clients=args.capacity or (2000 if args.quick else 10_000),
        big_clients=300 if args.quick else 1000,
        procs=args.procs,
        timeout=300.0 if args.quick else 600.0,
    )
    targets: list[Target] = []
    if not args.no_ours:
        if minidiscord_available():
            for frontend in (name.strip() for name in args.frontends.split(",")):
                for store in stores:
                    name = "minidiscord" if frontend == "hypercorn" else f"minidiscord-{frontend}"
                    name += "" if store == "memory" else f"-{store}"
                    command = (*OURS, "--frontend", frontend)
                    targets.append(Target(name, command=command, store=store))
        else:
            print("note: `python -m minidiscord` does not run here; skipping it", file=sys.stderr)
    if not args.no_peer:
        targets.append(
            Target(BASELINE, command=tuple(script_args("peer_socketio", "--port", "{port}")))
        )
    targets += args.target
    if not targets:
        parser.error("nothing to measure")
    note_fd_limit()
    if args.nice is not None:
        NICE[:] = ["nice", "-n", str(args.nice)]
    server_pin, _ = pinning(NICE)
    started = time.time()
    results = {target.name: measure(target, plan, parts) for target in targets}
    machine = f"{os.cpu_count()} cores, {'taskset' if 'taskset' in server_pin else 'not pinned'}"
    if NICE:
        machine += f", nice {args.nice}"
    print(
        f"\nbenchmark ({'quick' if plan.quick else 'full'}; {machine}; "
        f"{time.time() - started:.0f} s)\n"
    )
    print(render_table(results, plan))
    for note in noise_notes(results):
        print(f"note: {note}")
    if args.json:
        args.json.write_text(json.dumps({"plan": plan.__dict__, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
