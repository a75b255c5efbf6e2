"""Cluster mode's costs: the cross-node hop's latency, and Redis's work per message and connect.

Starts a private redis-server (``appendonly yes``, ``appendfsync always``) and two chat nodes
on it (native front end, limits off), both pinned to core 0 where taskset and two cores
exist, the load generator (``scripts/loadtest.py``) on core 1, Redis unpinned. Two parts:

- ``hop``: receivers on node B; the same load sent from node B (same node) and from node A
  (cross node, ``loadtest --send-url``), alternating, ``--repeats`` times each; p50/p99
  latency, deliveries/s, and CPU per delivery of node B (the receivers' node) and per
  message of node A (the senders' node, in the cross runs).
- ``cost``: Redis's ``INFO commandstats`` and ``INFO stats`` (commands, read events, bytes
  in and out) and redis-server's CPU (from /proc) over a run of connects only and over a
  run of connects plus messages; the difference, less what the idle nodes cost Redis over
  the same time (heartbeats, the log readers' blocking reads), divided by the messages
  acknowledged (or the clients connected and gone again).

Example: ``python -m scripts.cluster_bench --parts hop,cost --repeats 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchkit.processes import free_port, pinning, running, server_args
from benchkit.redis import running_redis
from benchkit.stats import cpu_s, raise_fd_limit, run_delay_s
from minidiscord.chat.stages import ENV as STAGE_TRACE
from scripts import loadtest, stage_attribution

PARTS = ("hop", "cost")
FSYNC = ("always", "everysec")
# The server's default --presence-grace (seconds).
PRESENCE_GRACE = 3.0


# --- Redis's own counters ------------------------------------------------------------------


def redis_command(port: int, *args: str) -> Any:
    """One command to the redis-server on ``port``, its reply decoded (bulk strings as str,
    arrays as lists; an error reply raises RuntimeError)."""
    parts = [f"${len(arg.encode())}\r\n{arg}\r\n" for arg in args]
    command = f"*{len(args)}\r\n{''.join(parts)}".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as connection:
        connection.sendall(command)
        with connection.makefile("rb") as reply:
            return _reply(reply)


def _reply(stream: Any) -> Any:
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(f"redis refused: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        length = int(rest)
        return None if length < 0 else stream.read(length + 2)[:-2].decode()
    if kind == b"*":
        length = int(rest)
        return None if length < 0 else [_reply(stream) for _ in range(length)]
    raise RuntimeError(f"unexpected reply {line!r}")


def redis_info(port: int, section: str) -> dict[str, str]:
    """``INFO section`` of the redis-server on ``port``, as its ``key:value`` lines."""
    lines = str(redis_command(port, "INFO", section)).splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))


@dataclass
class RedisSnapshot:
    """Redis's counters at one moment (and its process's CPU seconds)."""

    at: float
    calls: dict[str, int]  # per command (``cmdstat_`` removed); script calls counted too
    stats: dict[str, int]
    cpu_s: float

    @classmethod
    def take(cls, port: int, pid: int) -> RedisSnapshot:
        commands = redis_info(port, "commandstats")
        calls = {
            name.removeprefix("cmdstat_"): int(value.split(",")[0].removeprefix("calls="))
            for name, value in commands.items()
        }
        keys = (
            "total_commands_processed",
            "total_reads_processed",
            "total_writes_processed",
            "total_net_input_bytes",
            "total_net_output_bytes",
        )
        raw = redis_info(port, "stats")
        stats = {key: int(raw[key]) for key in keys}
        return cls(time.monotonic(), calls, stats, cpu_s(pid) or 0.0)

    def minus(self, earlier: RedisSnapshot) -> dict[str, Any]:
        """What happened between ``earlier`` and this, per second of it too."""
        seconds = self.at - earlier.at
        calls = {
            name: count - earlier.calls.get(name, 0)
            for name, count in self.calls.items()
            if count != earlier.calls.get(name, 0)
        }
        stats = {key: value - earlier.stats[key] for key, value in self.stats.items()}
        # Our own INFO calls are not the chat's.
        calls.pop("info", None)
        stats["total_commands_processed"] -= 2
        stats["total_reads_processed"] -= 2
        return {"seconds": seconds, "calls": calls, **stats, "cpu_s": self.cpu_s - earlier.cpu_s}


def less(run: dict[str, Any], idle: dict[str, Any]) -> dict[str, Any]:
    """``run`` less what the idle cluster costs in as long a time (idle is per second)."""
    seconds = run["seconds"]
    out: dict[str, Any] = {"seconds": seconds}
    names = set(run["calls"]) | set(idle["calls"])
    out["calls"] = {
        name: run["calls"].get(name, 0) - idle["calls"].get(name, 0) * seconds for name in names
    }
    for key, value in run.items():
        if key not in ("seconds", "calls"):
            out[key] = value - idle[key] * seconds
    return out


def per_second(delta: dict[str, Any]) -> dict[str, Any]:
    seconds = delta["seconds"]
    out: dict[str, Any] = {"seconds": 1.0}
    out["calls"] = {name: count / seconds for name, count in delta["calls"].items()}
    for key, value in delta.items():
        if key not in ("seconds", "calls"):
            out[key] = value / seconds
    return out


def divided(delta: dict[str, Any], by: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "calls": {name: round(count / by, 3) for name, count in sorted(delta["calls"].items())}
    }
    for key, value in delta.items():
        if key not in ("seconds", "calls"):
            out[key] = round(value / by, 6 if key == "cpu_s" else 2)
    return out


# --- the cluster ---------------------------------------------------------------------------


@dataclass
class Node:
    url: str
    pid: int


@dataclass
class Cluster:
    redis_port: int
    redis_pid: int
    a: Node
    b: Node


@contextmanager
def cluster(server_pin: Sequence[str], stages: Path | None = None) -> Iterator[Cluster]:
    """A private redis-server and two nodes on it, ready, for the block. What the nodes
    log (warnings and worse) is printed at the end, so a run that went wrong says why.
    With ``stages``, the nodes write their stage traces there when they stop, and Redis
    notes every latency event (an fsync, a command) of a millisecond or more."""
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cluster-")))
        redis_url, redis_pid = stack.enter_context(running_redis(directory / "redis"))
        stack.callback(show_logs, directory)
        redis_port = urlsplit(redis_url).port
        assert redis_port is not None
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        if stages is not None:
            env[STAGE_TRACE] = str(stages)
            redis_command(redis_port, "CONFIG", "SET", "latency-monitor-threshold", "1")
        nodes = []
        for name in ("a", "b"):
            port = free_port()
            command = [
                *server_pin,
                *server_args(port, "--frontend", "native", "--redis-url", redis_url),
                *("--log-level", "warning"),
            ]
            log = stack.enter_context((directory / f"node-{name}.log").open("wb"))
            process = stack.enter_context(
                running(command, port, env=env, stdout=subprocess.DEVNULL, stderr=log)
            )
            nodes.append(Node(f"http://127.0.0.1:{port}", process.pid))
        yield Cluster(redis_port, redis_pid, nodes[0], nodes[1])


def show_logs(directory: Path) -> None:
    for log in sorted(directory.glob("node-*.log")):
        lines = log.read_text(errors="replace").splitlines()
        if lines:
            print(f"{log.stem} logged {len(lines)} line(s), the last:", file=sys.stderr)
            for line in lines[-20:]:
                print(f"  {line}", file=sys.stderr)


# --- the parts -----------------------------------------------------------------------------


def let_in(report: dict[str, Any], run: str) -> bool:
    """Whether the load test's run has figures; says so when clients were refused (a refused
    client is no member: the run measured fewer than asked for)."""
    connect = report["connect"]
    result = report.get("result")
    if connect["failed"]:
        # The load test tries them once more before sending: the members are who got in.
        members = "none" if result is None else result["members"]
        print(
            f"  {run}: {connect['failed']} of {connect['clients']} clients were refused at "
            f"connect ({members} members when the sending began), e.g. {connect['failures'][:1]}",
            file=sys.stderr,
        )
    if result is None:
        print(f"  {run}: nobody was let in; no figures", file=sys.stderr)
        return False
    return True


def hop(nodes: Cluster, load_pin: Sequence[str], args: argparse.Namespace) -> dict[str, Any]:
    """Same-node and cross-node runs of one load, alternating, under each ``--fsync``
    setting in turn; each run's figures (and Redis's latency events, with ``--stages``)."""
    runs: dict[str, list[dict[str, Any]]] = {"same": [], "cross": []}
    options = [
        *("-c", str(args.clients), "-s", str(args.senders), "-r", str(args.rate)),
        *("-d", str(args.duration), "--drain", "5", "--server-pid", str(nodes.b.pid)),
    ]
    for repeat in range(args.repeats):
        for fsync in args.fsync:
            redis_command(nodes.redis_port, "CONFIG", "SET", "appendfsync", fsync)
            for mode in ("same", "cross") if repeat % 2 == 0 else ("cross", "same"):
                run = hop_run(
                    nodes, mode, fsync, f"{repeat + 1}/{args.repeats}", options, load_pin, args
                )
                if run is not None:
                    runs[mode].append(run)
    return runs


def hop_run(
    nodes: Cluster,
    mode: str,
    fsync: str,
    which: str,
    options: Sequence[str],
    load_pin: Sequence[str],
    args: argparse.Namespace,
) -> dict[str, Any] | None:
    sender = nodes.b if mode == "same" else nodes.a
    load = os.getloadavg()[0]
    a_cpu0 = cpu_s(nodes.a.pid) or 0.0
    print(f"  hop {mode} {which}, appendfsync {fsync}, load {load:.2f}", file=sys.stderr)
    if args.stages:
        redis_command(nodes.redis_port, "LATENCY", "RESET")
    pids = {"node_a": nodes.a.pid, "node_b": nodes.b.pid, "redis": nodes.redis_pid}
    waited0 = {name: run_delay_s(pid) for name, pid in pids.items()}
    report = loadtest.run_command(
        nodes.b.url, "--send-url", sender.url, *options, prefix=load_pin, timeout=300
    )
    waited = {name: waited_ms(run_delay_s(pid), waited0[name]) for name, pid in pids.items()}
    # The load generator's own, over its sending and draining only.
    for n, seconds in enumerate(report.get("result", {}).get("loadgen_waited_for_a_core_s", [])):
        waited[f"load generator {n + 1}"] = None if seconds is None else round(1000 * seconds, 1)
    a_cpu = (cpu_s(nodes.a.pid) or 0.0) - a_cpu0
    if not let_in(report, f"hop {mode}"):
        return None
    result = report["result"]
    delivered = result["delivered"]
    b_cpu_s = result.get("server_cpu_percent", 0.0) / 100 * result["duration"]
    return {
        "appendfsync": fsync,
        "load_average": load,
        "window": result["window"],
        "deliveries_per_s": result["deliveries_per_s"],
        "delivery_ratio": result["delivery_ratio"],
        "p50_ms": result["latency_ms"]["p50"],
        "p99_ms": result["latency_ms"]["p99"],
        "max_ms": result["latency_ms"].get("max"),
        "acked": result["acked"],
        "clients": report["connect"]["clients"],
        "members": result["members"],
        "connect_failed": report["connect"]["failed"],
        "errors": result["errors"],
        "node_b_cpu_percent": result.get("server_cpu_percent"),
        "node_b_cpu_us_per_delivery": round(1e6 * b_cpu_s / max(1, delivered), 2),
        # Node A's whole run (its senders' connects included) in the cross runs.
        "node_a_cpu_us_per_message": round(1e6 * a_cpu / max(1, result["acked"]), 1)
        if mode == "cross"
        else None,
        "loadgen_cpu_percent": result["loadgen_cpu_percent"],
        "loadgen_gc_pauses": result.get("loadgen_gc_pauses"),
        "redis_latency_ms": latency_events(nodes.redis_port) if args.stages else None,
        # Per second of the run, Redis's longest fsync before answering writes (ms).
        "redis_fsyncs_ms": fsyncs(nodes.redis_port) if args.stages else None,
        # How long each process was ready to run but waited for a core, over the whole
        # load test (connects included; the generator's over its phase): the machine's
        # other work.
        "waited_for_a_core_ms": waited,
    }


def waited_ms(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(1000 * (after - before), 1)


def fsyncs(port: int) -> dict[int, int]:
    """``LATENCY HISTORY aof-fsync-always`` since the last reset: for each second (Unix
    time) in which an fsync took a millisecond or more, the longest (ms)."""
    history = redis_command(port, "LATENCY", "HISTORY", "aof-fsync-always")
    return {int(second): int(longest) for second, longest in history}


def latency_events(port: int) -> dict[str, int]:
    """The longest of each kind of latency event Redis noted since its LATENCY RESET (ms;
    ``aof-fsync-always`` is the fsync every write waits for with ``appendfsync always``)."""
    return {
        str(name): int(longest) for name, _, _, longest in redis_command(port, "LATENCY", "LATEST")
    }


def combine(
    a: dict[str, Any], b: dict[str, Any], weight_a: float, weight_b: float
) -> dict[str, Any]:
    """``weight_a * a + weight_b * b``, counter by counter."""
    names = set(a["calls"]) | set(b["calls"])
    out: dict[str, Any] = {
        "seconds": weight_a * a["seconds"] + weight_b * b["seconds"],
        "calls": {
            name: weight_a * a["calls"].get(name, 0) + weight_b * b["calls"].get(name, 0)
            for name in names
        },
    }
    for key in a:
        if key not in ("seconds", "calls"):
            out[key] = weight_a * a[key] + weight_b * b[key]
    return out


class Sampler:
    """Redis's counters every ``interval`` seconds in a thread, stamped with wall time, so
    a run's phase (``loadtest``'s ``window``) can be cut out of the whole run."""

    def __init__(self, take: Callable[[], RedisSnapshot], interval: float = 0.1) -> None:
        self._take = take
        self._interval = interval
        self.samples: list[tuple[float, RedisSnapshot]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._take()))
            self._stop.wait(self._interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> dict[str, Any]:
        """The counters' change from the last sample at or before ``start`` to the first at
        or after ``end`` (so the window is covered, with at most an interval more)."""
        before = [snap for at, snap in self.samples if at <= start][-1]
        after = next(snap for at, snap in self.samples if at >= end)
        return after.minus(before)


def cost(nodes: Cluster, load_pin: Sequence[str], args: argparse.Namespace) -> dict[str, Any]:
    """Redis's work per connect and per message, less the idle cluster's.

    A connect's snapshot reads every user known (the users list), so connects cost more as
    users accumulate: connect-only runs come first and last, and the growth between them
    is reported per known user. The message runs' counters are cut to the phase of sending
    and draining (sampled), so their clients' connects are not counted in them.
    """

    def snapshot() -> RedisSnapshot:
        return RedisSnapshot.take(nodes.redis_port, nodes.redis_pid)

    def connects(what: str) -> tuple[dict[str, Any], int]:
        print(f"  cost: {what}, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
        before = snapshot()
        options = ("-c", str(args.cost_clients), "-d", "0")
        report = loadtest.run_command(nodes.b.url, *options, prefix=load_pin, timeout=300)
        # The users go offline only after the presence grace: their `offline` entries
        # belong to this run, not to the next.
        time.sleep(PRESENCE_GRACE + 1.0)
        return less(snapshot().minus(before), idle), report["connect"]["connected"]

    print(f"  cost: idle {args.idle:g} s", file=sys.stderr)
    before = snapshot()
    time.sleep(args.idle)
    idle = per_second(snapshot().minus(before))
    first, connected = connects(f"{args.cost_clients} connects")
    known = connected
    per_message = []
    for rate in args.cost_rates:
        clients = max(args.senders, args.cost_message_clients)
        options = (
            *("-c", str(clients), "-s", str(args.senders), "-r", f"{rate:g}"),
            *("-d", str(args.duration), "--drain", "5", "--send-url", nodes.a.url),
        )
        load = os.getloadavg()[0]
        print(f"  cost: {rate * args.senders:g} messages/s, load {load:.2f}", file=sys.stderr)
        with Sampler(snapshot) as sampler:
            report = loadtest.run_command(nodes.b.url, *options, prefix=load_pin, timeout=300)
            time.sleep(0.3)
        known += clients
        time.sleep(PRESENCE_GRACE + 1.0)  # their offline entries too, before the next run
        if not let_in(report, f"cost at {rate * args.senders:g} messages/s"):
            continue
        result = report["result"]
        window = less(sampler.between(*result["window"]), idle)
        acked = result["acked"] - result["errors"]["ack"]
        per_message.append(
            {
                "offered_per_s": rate * args.senders,
                "load_average": load,
                "acked": acked,
                "fan_out": result["members"],
                "p50_ms": result["latency_ms"]["p50"],
                "p99_ms": result["latency_ms"]["p99"],
                "per_message": divided(window, max(1, acked)),
            }
        )
    last, _ = connects(f"{args.cost_clients} connects again")
    return {
        "idle_per_s": divided(idle, 1.0),
        "clients": connected,
        "per_connect_and_disconnect_first": divided(first, max(1, connected)),
        "per_connect_and_disconnect_last": divided(last, max(1, connected)),
        "users_known_before_last": known,
        "per_connect_per_known_user": divided(
            combine(last, first, 1.0, -1.0), max(1, connected) * known
        ),
        "messages": per_message,
        "load_average_after": os.getloadavg()[0],
    }


def summarize_hop(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = [
        "mode   fsync     load    members  deliveries/s  ratio   p50 ms  p99 ms  "
        "B us/delivery  A us/message"
    ]
    for mode, results in runs.items():
        for run in results:
            a = run["node_a_cpu_us_per_message"]
            # Fewer members than clients: the others were refused; the run measured fewer.
            members = f"{run['members']}/{run['clients']}"
            lines.append(
                f"{mode:<5}  {run.get('appendfsync', 'always'):<8}  {run['load_average']:4.2f}  "
                f"{members:>9}  {run['deliveries_per_s']:12,.0f}  "
                f"{figure(run['delivery_ratio'], '.4f'):>6}  {figure(run['p50_ms'], '.1f'):>6}  "
                f"{figure(run['p99_ms'], '.1f'):>6}  "
                f"{run['node_b_cpu_us_per_delivery']:13.1f}  {figure(a, '.0f'):>12}"
            )
    return lines


def attribute_hop(runs: dict[str, list[dict[str, Any]]], nodes: Cluster, stages: Path) -> list[str]:
    """Each run's stage attribution (added to its figures) and the lines that show it."""
    a = stage_attribution.NodeTrace.load(stages / f"stages-{nodes.a.pid}.json")
    b = stage_attribution.NodeTrace.load(stages / f"stages-{nodes.b.pid}.json")
    lines = []
    for mode, results in runs.items():
        for run in results:
            sender = b if mode == "same" else a
            found = stage_attribution.attribute(
                sender, b, tuple(run["window"]), run["redis_fsyncs_ms"]
            )
            run["stages"] = found
            lines.append(
                f"{mode} node, appendfsync {run['appendfsync']}, load {run['load_average']:.2f}: "
                f"load generator p50 {figure(run['p50_ms'], '.1f')} p99 "
                f"{figure(run['p99_ms'], '.1f')} max {figure(run['max_ms'], '.1f')} ms; "
                f"Redis's longest events (ms) {run['redis_latency_ms']}; the load "
                f"generator's GC pauses {run['loadgen_gc_pauses']}; waited for a core (ms) "
                f"{run['waited_for_a_core_ms']}"
            )
            if found is None:
                lines.append("    no traced messages in its window")
                continue
            lines.extend(stage_attribution.summarize(found))
    return lines


def figure(value: float | None, spec: str) -> str:
    """``value`` formatted, or "-" for a figure a run could not give (no deliveries)."""
    return "-" if value is None else format(value, spec)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated: hop,cost")
    parser.add_argument("--repeats", type=int, default=3, help="hop: runs of each mode")
    parser.add_argument("-c", "--clients", type=int, default=100, help="hop: clients")
    parser.add_argument("-s", "--senders", type=int, default=10)
    parser.add_argument("-r", "--rate", type=float, default=10.0, help="hop: messages/s per sender")
    parser.add_argument("-d", "--duration", type=float, default=15.0, help="seconds of sending")
    parser.add_argument("--cost-clients", type=int, default=200, help="cost: clients")
    parser.add_argument(
        "--cost-rates",
        type=lambda text: [float(part) for part in text.split(",")],
        default=[5.0, 50.0],
        help="cost: messages/s per sender, one message run each (comma-separated)",
    )
    parser.add_argument(
        "--cost-message-clients", type=int, default=20, help="cost: clients of the message runs"
    )
    parser.add_argument("--idle", type=float, default=10.0, help="cost: idle seconds measured")
    parser.add_argument(
        "--fsync",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=["always"],
        help="hop: Redis's appendfsync for the runs, each in turn (comma-separated: "
        "always,everysec); 'always' is what durable-before-visible needs",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="hop: trace every message's stages in the nodes and say where each run's "
        "slowest ones spent their time (and Redis's latency events)",
    )
    parser.add_argument(
        "--stages-dir",
        type=Path,
        help="with --stages: keep the nodes' traces in this directory (default: a temporary one)",
    )
    parser.add_argument(
        "--nice", type=int, help="run the cluster and the load at this niceness (e.g. -5, root)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    if not parts or set(parts) - set(PARTS):
        parser.error(f"--parts: expected some of {','.join(PARTS)}")
    if not args.fsync or set(args.fsync) - set(FSYNC):
        parser.error(f"--fsync: expected some of {','.join(FSYNC)}")
    raise_fd_limit()
    server_pin, load_pin = pinning([] if args.nice is None else ["nice", "-n", str(args.nice)])
    results: dict[str, Any] = {"load_average_before": os.getloadavg()}
    with ExitStack() as stack:
        stages = args.stages_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="stages-"))
        )
        stages.mkdir(parents=True, exist_ok=True)
        with cluster(server_pin, stages if args.stages else None) as nodes:
            # Cost first: it counts the users every connect reads, from none.
            if "cost" in parts:
                results["cost"] = cost(nodes, load_pin, args)
            if "hop" in parts:
                results["hop"] = hop(nodes, load_pin, args)
        # The nodes wrote their traces as they stopped.
        attribution = (
            attribute_hop(results["hop"], nodes, stages) if args.stages and "hop" in results else []
        )
    results["load_average_after"] = os.getloadavg()
    if "hop" in results:
        print("\n".join(summarize_hop(results["hop"])))
        print("\n".join(attribution))
    if "cost" in results:
        print(json.dumps(results["cost"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
