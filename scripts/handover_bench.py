"""What the ``--workers`` parent costs a new connection: connects/s with and without it.

The same app (docs/examples/echo_server.py) on the native front end, served once by a
single process (``python -m docs.examples.echo_server``) and once by the parent with one
worker (``python -m minidiscord.workers ... --workers 1``), where every connection is
accepted by the parent, its request line read, and its descriptor handed to the worker.
Each server is pinned to one core (parent and worker share it: the cost is measured, not
hidden on the other core), the load on the other. Each client task loops: connect, one
request with ``Connection: close`` (for a path the app does not serve, with a ``sid`` the
parent routes by: the cheapest answer, so the connection's cost dominates), read the answer
to its end. The servers take turns for ``--rounds`` rounds (a shared machine's noise then
hits both); prints connects/s and latency percentiles of each run.
Example: ``python -m scripts.handover_bench --seconds 10``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from benchkit.processes import HANDSHAKE, free_port, pinning, running
from benchkit.stats import percentile_ms

APP = "docs.examples.echo_server"
# A path the app does not serve (404, not logged), with a sid the parent routes by.
REQUEST = b"GET /nothing?sid=0.nobody HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def _single(port: int) -> list[str]:
    return [sys.executable, "-m", APP, "--port", str(port)]


def _parent(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "minidiscord.workers", f"{APP}:app"),
        *("--workers", "1", "--port", str(port)),
    ]


SERVERS: dict[str, Callable[[int], list[str]]] = {
    "single process": _single,
    "parent + 1 worker": _parent,
}


async def _load(port: int, tasks: int, seconds: float) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    failures = 0
    deadline = trio.current_time() + seconds

    async def client() -> None:
        nonlocal failures
        while trio.current_time() < deadline:
            started = time.perf_counter()
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                async with stream:
                    await stream.send_all(REQUEST)
                    answer = b""
                    while chunk := await stream.receive_some(65536):
                        answer += chunk
            except OSError:
                failures += 1
                continue
            if not answer.startswith(b"HTTP/1.1 404"):
                failures += 1
                continue
            latencies.append(time.perf_counter() - started)

    async with trio.open_nursery() as nursery:
        for _ in range(tasks):
            nursery.start_soon(client)
    return len(latencies), latencies, failures


def measure(name: str, command: Callable[[int], list[str]], tasks: int, seconds: float) -> str:
    port = free_port()
    server_prefix, _ = pinning()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with running([*server_prefix, *command(port)], port, probe=HANDSHAKE, **quiet) as server:
        trio.run(_load, port, tasks, 1.0)  # warm-up: imports, caches, the first accepts
        before = _cpu(server.pid)
        done, latencies, failures = trio.run(_load, port, tasks, seconds)
        after = _cpu(server.pid)
    # CPU per connection, of the process the command started and of its children (the
    # worker): less at the mercy of a shared machine than the rate.
    own = (after[0] - before[0]) / max(done, 1) * 1e6
    children = (after[1] - before[1]) / max(done, 1) * 1e6
    return (
        f"{name:<20} {done / seconds:>7.0f} connects/s   "
        f"p50 {percentile_ms(latencies, 50)} ms   p99 {percentile_ms(latencies, 99)} ms   "
        f"CPU/connection: {own:.0f} us + {children:.0f} us in children   failures {failures}"
    )


def _cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of ``pid`` and of its live children (Linux /proc; zeros elsewhere)."""
    try:
        own = _cpu_of(pid)
    except OSError:
        return 0.0, 0.0
    children = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # its parent
                children += _cpu_of(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return own, children


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime, fields 14 and 15 of stat (11 and 12 after the command's name).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tasks", type=int, default=32, help="concurrent client loops")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        # The load on the core the servers are not pinned to (see pinning()).
        os.sched_setaffinity(0, {1})
    for _ in range(args.rounds):
        for name, command in SERVERS.items():
            print(measure(name, command, args.tasks, args.seconds), flush=True)


if __name__ == "__main__":
    main()
