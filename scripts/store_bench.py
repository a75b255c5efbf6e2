"""Compares the memory and SQLite stores: the same load against a server with each, one run.

For each store it starts the server (``python -m minidiscord --store KIND --db PATH``; for
``--stores memory,sqlite,redis`` also ``--redis-url`` on a private redis-server with
``appendfsync always``) on a free loopback port and measures two things:

- sustained throughput: senders keep a window of acknowledged ``message:channel:send``
  events in flight, as fast as the server answers (a closed loop), for a fixed time after a
  warm-up; throughput is acknowledged messages per second;
- latency at a fixed offered load: ``scripts/loadtest.py`` sends at the same rate to both
  stores (by default half of the memory store's measured throughput) and reports p50/p99
  from send to delivery.

Runs alternate between the stores (``--repeats``) and each store's best run counts, which
damps the noise of a shared machine. It prints the figures and the SQLite/memory
throughput ratio (target: >= 0.8), and Redis/SQLite's when both ran. For SQLite it also
checks that the database holds every message that was acknowledged.

The closed loop's clients are benchkit's lean WebSocket client, not ``minidiscord.client``:
a saturation figure must measure the server, and the lean client reads a whole TCP read of
frames in one pass, so the load generator stays the cheaper side.

Example: ``python -m scripts.store_bench --senders 10 --duration 5 --repeats 2``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import trio

from benchkit.processes import free_port, running, server_args
from benchkit.redis import running_redis
from benchkit.stats import cpu_s, own_cpu_s, percentile_ms
from benchkit.wire import LeanWebSocket, WireError
from scripts import loadtest

STORES = ("memory", "sqlite", "redis")
TARGET_RATIO = 0.8
START_TIMEOUT = 15.0
TARGET = "/socket.io/?EIO=4&transport=websocket"


@dataclass
class Saturation:
    messages_per_s: float
    acked: int
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    bench_cpu_percent: float
    server_cpu_percent: float | None

    @property
    def per_server_cpu_s(self) -> float | None:
        """Messages per second of server CPU: the cost, less sensitive to a busy machine."""
        if not self.server_cpu_percent:
            return None
        return round(self.messages_per_s / (self.server_cpu_percent / 100), 1)


@dataclass
class FixedLoad:
    rate_per_sender: float
    delivered_ratio: float | None
    p50_ms: float | None
    p99_ms: float | None
    held: bool


@dataclass
class Run:
    store: str
    repeat: int
    saturation: Saturation
    fixed: FixedLoad | None
    stored: int | None


# -- the server ---------------------------------------------------------------------------


@contextlib.contextmanager
def running_server(store: str, db: str) -> Iterator[tuple[int, int]]:
    port = free_port()
    with contextlib.ExitStack() as stack:
        if store == "redis":
            # Cluster mode with one node, on a private redis-server (appendfsync always).
            url, _ = stack.enter_context(running_redis(Path(db).parent / "redis"))
            options = ["--redis-url", url]
        else:
            options = ["--store", store, "--db", db]
        command = server_args(port, *options, "--log-level", "warning")
        process = stack.enter_context(
            running(command, port, timeout=START_TIMEOUT, stdout=subprocess.DEVNULL)
        )
        yield port, process.pid


# -- the closed loop ----------------------------------------------------------------------


async def open_client(port: int, name: str) -> LeanWebSocket:
    ws = await LeanWebSocket.connect("127.0.0.1", port, TARGET)
    await ws.send_text("40" + json.dumps({"username": name}))
    while True:
        frames = await ws.receive_frames()
        if not frames:
            raise WireError(f"{name}: closed before the Socket.IO connect")
        if any(frame.startswith(b"40") for frame in frames):
            return ws
        if any(frame.startswith(b"44") for frame in frames):
            raise WireError(f"{name}: connect refused")


async def closed_loop(port: int, args: argparse.Namespace, pid: int) -> tuple[Saturation, int]:
    """Senders keep `window` messages in flight each; acks in the measured span count.

    Returns the figures and the number of messages acknowledged in all (warm-up included).
    """
    clients = [await open_client(port, f"bench{n}") for n in range(args.clients)]
    flights: list[dict[int, float]] = [{} for _ in clients]
    latencies: list[float] = []
    measured = 0
    total_acked = 0
    measuring = False
    stop = False
    drained = trio.Event()

    async def reader(
        ws: LeanWebSocket, in_flight: dict[int, float], window: trio.Semaphore
    ) -> None:
        nonlocal measured, total_acked
        while frames := await ws.receive_frames():
            now = time.perf_counter()
            for frame in frames:
                if frame == b"2":
                    await ws.send_text("3")
                elif frame.startswith(b"43"):
                    bracket = frame.index(b"[")
                    sent_at = in_flight.pop(int(frame[2:bracket]))
                    if b'"ok":true' not in frame:
                        raise WireError(f"message refused: {frame[:200]!r}")
                    total_acked += 1
                    if measuring:
                        measured += 1
                        latencies.append(now - sent_at)
                    window.release()
                    if stop and not in_flight and not any(flights):
                        drained.set()

    async def sender(
        ws: LeanWebSocket, in_flight: dict[int, float], window: trio.Semaphore
    ) -> None:
        text = "x" * args.size
        for ack in range(args.max_messages):
            await window.acquire()
            if stop:
                return
            in_flight[ack] = time.perf_counter()
            body = json.dumps(["message:channel:send", "general", f"{ack} {text}"])
            await ws.send_text(f"42{ack}{body}")

    try:
        async with trio.open_nursery() as nursery:
            for n, ws in enumerate(clients):
                window = trio.Semaphore(args.window)
                nursery.start_soon(reader, ws, flights[n], window)
                if n < args.senders:
                    nursery.start_soon(sender, ws, flights[n], window)
            await trio.sleep(args.warmup)
            cpu_bench, cpu_server, started = own_cpu_s(), cpu_s(pid), time.perf_counter()
            measuring = True
            await trio.sleep(args.duration)
            measuring = False
            elapsed = time.perf_counter() - started
            cpu_bench_end, cpu_server_end = own_cpu_s(), cpu_s(pid)
            stop = True
            # The last acks come back before the next phase, so the server is quiet then.
            if not any(flights):
                drained.set()
            with trio.move_on_after(5.0):
                await drained.wait()
            nursery.cancel_scope.cancel()
    finally:
        for ws in clients:
            await ws.aclose()
    server_cpu = (
        None
        if cpu_server is None or cpu_server_end is None
        else round(100 * (cpu_server_end - cpu_server) / elapsed, 1)
    )
    saturation = Saturation(
        messages_per_s=round(measured / elapsed, 1),
        acked=measured,
        ack_p50_ms=percentile_ms(latencies, 50),
        ack_p99_ms=percentile_ms(latencies, 99),
        bench_cpu_percent=round(100 * (cpu_bench_end - cpu_bench) / elapsed, 1),
        server_cpu_percent=server_cpu,
    )
    return saturation, total_acked


# -- the fixed load (scripts/loadtest.py) -------------------------------------------------


def fixed_load(port: int, rate: float, args: argparse.Namespace) -> FixedLoad:
    report = loadtest.run_command(
        f"http://127.0.0.1:{port}",
        *("--clients", str(args.clients), "--senders", str(args.senders), "--rate", str(rate)),
        *("--duration", str(args.duration), "--size", str(args.size)),
        timeout=args.duration + 60,
    )
    phase = report["phases"][-1]
    return FixedLoad(
        rate_per_sender=rate,
        delivered_ratio=phase["delivery_ratio"],
        p50_ms=phase["latency_ms"]["p50"],
        p99_ms=phase["latency_ms"]["p99"],
        held=bool(phase["held"]),
    )


# -- the comparison -----------------------------------------------------------------------


def count_messages(db: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        count: int = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        return count


def bench_once(store: str, repeat: int, rate: float | None, args: argparse.Namespace) -> Run:
    with tempfile.TemporaryDirectory(prefix="store-bench-") as workdir:
        db = os.path.join(workdir, "chat.db")
        with running_server(store, db) as (port, pid):
            saturation, acked = trio.run(closed_loop, port, args, pid)
            fixed = None
            if not args.no_fixed:
                if rate is None:
                    # The first run sets the fixed load for all: half its throughput.
                    rate = round(saturation.messages_per_s / args.senders / 2, 1)
                fixed = fixed_load(port, rate, args)
        stored = None
        if store == "sqlite":
            stored = count_messages(db)
            # Each ack went out after its commit, so all of them must be in the file.
            if stored < acked:
                raise RuntimeError(f"{acked} messages acknowledged but only {stored} stored")
    return Run(store, repeat, saturation, fixed, stored)


@dataclass
class Best:
    messages_per_s: float
    per_server_cpu_s: float | None
    fixed_p99_ms: float | None


def best(runs: Sequence[Run], store: str) -> Best:
    """A store's best figures over its runs (the least disturbed by the rest of the machine)."""
    mine = [run for run in runs if run.store == store]
    costs = [c for run in mine if (c := run.saturation.per_server_cpu_s) is not None]
    p99s = [run.fixed.p99_ms for run in mine if run.fixed and run.fixed.p99_ms is not None]
    return Best(
        messages_per_s=max(run.saturation.messages_per_s for run in mine),
        per_server_cpu_s=max(costs, default=None),
        fixed_p99_ms=min(p99s, default=None),
    )


def format_report(runs: Sequence[Run], stores: Sequence[str]) -> str:
    lines = [
        "store   run  msgs/s  ack p50/p99 ms   server cpu  bench cpu | fixed load: "
        "rate/sender  p50/p99 ms  held"
    ]
    for run in runs:
        sat = run.saturation
        fixed = run.fixed
        fixed_text = (
            "-"
            if fixed is None
            else f"{fixed.rate_per_sender:>11g}  {fixed.p50_ms}/{fixed.p99_ms}  "
            f"{'yes' if fixed.held else 'NO'}"
        )
        lines.append(
            f"{run.store:<7} {run.repeat:>3} {sat.messages_per_s:>7,.0f}  "
            f"{sat.ack_p50_ms}/{sat.ack_p99_ms}".ljust(38)
            + f"{sat.server_cpu_percent!s:>9}% {sat.bench_cpu_percent:>8}% | {fixed_text}"
        )
    summary = {store: best(runs, store) for store in stores}
    for store, figures in summary.items():
        lines.append(
            f"best    {store:<7} {figures.messages_per_s:>9,.0f} msgs/s sustained, "
            f"{figures.per_server_cpu_s} msgs per server CPU-second, "
            f"p99 at the fixed load {figures.fixed_p99_ms} ms"
        )
    if {"sqlite", "redis"} <= summary.keys() and summary["sqlite"].messages_per_s:
        ratio = summary["redis"].messages_per_s / summary["sqlite"].messages_per_s
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        lines.append(
            f"redis/sqlite sustained throughput: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)"
        )
    if {"memory", "sqlite"} <= summary.keys() and summary["memory"].messages_per_s:
        memory, sqlite = summary["memory"], summary["sqlite"]
        ratio = sqlite.messages_per_s / memory.messages_per_s
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        lines.append(
            f"sqlite/memory sustained throughput: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)"
        )
        if memory.per_server_cpu_s and sqlite.per_server_cpu_s:
            cost = sqlite.per_server_cpu_s / memory.per_server_cpu_s
            lines.append(f"sqlite/memory messages per server CPU-second: {cost:.2f}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-c", "--clients", type=int, default=10, help="connected clients")
    parser.add_argument("-s", "--senders", type=int, default=10, help="clients that send")
    parser.add_argument("-w", "--window", type=int, default=8, help="messages in flight each")
    parser.add_argument("-d", "--duration", type=float, default=5.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--size", type=int, default=64, help="characters per message")
    parser.add_argument("--repeats", type=int, default=2, help="runs per store, alternating")
    parser.add_argument(
        "--rate",
        type=float,
        help="fixed load per sender in messages/s (default: half the memory throughput)",
    )
    parser.add_argument("--no-fixed", action="store_true", help="skip the fixed-load phase")
    parser.add_argument("--max-messages", type=int, default=1_000_000, help="per sender, at most")
    parser.add_argument(
        "--stores",
        default="memory,sqlite",
        help=f"comma-separated, in order, among {', '.join(STORES)}",
    )
    parser.add_argument("--json", action="store_true", help="print every run as JSON")
    args = parser.parse_args(argv)
    args.stores = [s for s in args.stores.split(",") if s]
    if not set(args.stores) <= set(STORES) or not args.stores:
        parser.error(f"--stores: choose among {', '.join(STORES)}")
    if not 1 <= args.senders <= args.clients or args.window < 1 or args.repeats < 1:
        parser.error("need 1 <= senders <= clients, window >= 1, repeats >= 1")
    if args.duration <= 0 or args.duration > 120:
        parser.error("--duration: between 0 and 120 seconds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    runs: list[Run] = []
    rate: float | None = args.rate
    try:
        for repeat in range(1, args.repeats + 1):
            for store in args.stores:
                print(f"run {repeat}: the {store} store...", file=sys.stderr)
                run = bench_once(store, repeat, rate, args)
                if run.fixed is not None:
                    rate = run.fixed.rate_per_sender
                runs.append(run)
    except (RuntimeError, WireError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"store_bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        report = {
            "runs": [asdict(run) for run in runs],
            "best": {store: asdict(best(runs, store)) for store in args.stores},
        }
        print(json.dumps(report, indent=2))
    else:
        print(format_report(runs, args.stores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
