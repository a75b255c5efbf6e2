"""Presence failover time: a node SIGKILLed, how long until the others hear its users left.

Two chat nodes (native front end) share a private redis-server (``appendfsync always``).
Each run starts node A afresh, connects an observer to node B and then a user to node A,
waits until the observer has seen that user join, SIGKILLs node A and times how long the
observer waits for ``user:disconnect`` of that user: the node timeout (no heartbeat from A
for that long) plus up to one heartbeat of node B, which reaps dead nodes when it beats.
Node B and Redis stay up across the runs of one timeout.

Example: ``python -m scripts.failover --runs 5 --node-timeouts default,2``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio

from benchkit.processes import free_port, running, server_args, wait_ready
from benchkit.redis import running_redis
from minidiscord.client import Client

# How long a run waits for the join it needs before the kill, and (past the node timeout)
# for the disconnect: a run that takes longer failed.
JOIN_TIMEOUT = 15.0
DISCONNECT_GRACE = 15.0


def node_command(port: int, redis_url: str, node_timeout: float | None) -> list[str]:
    timeout = ("--node-timeout", f"{node_timeout:g}") if node_timeout is not None else ()
    return server_args(
        port, "--frontend", "native", "--redis-url", redis_url, "--log-level", "warning", *timeout
    )


@contextmanager
def node(
    redis_url: str, node_timeout: float | None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A chat node on a free port, ready; stopped (if still alive) when the block ends."""
    port = free_port()
    quiet = subprocess.DEVNULL
    command = node_command(port, redis_url, node_timeout)
    with running(command, port, stdout=quiet, stderr=quiet) as process:
        yield f"http://127.0.0.1:{port}", process


class Observer:
    """Timestamps (trio clock) of ``user:join`` and ``user:disconnect`` by user id."""

    def __init__(self) -> None:
        self.joined: dict[str, float] = {}
        self.left: dict[str, float] = {}
        self.changed = trio.Event()

    def _note(self, seen: dict[str, float], user: object) -> None:
        if isinstance(user, dict) and isinstance(user.get("userId"), str):
            seen.setdefault(user["userId"], trio.current_time())
            self.changed.set()
            self.changed = trio.Event()

    # Connection state recovery adds an offset after the payload: the user comes first.
    def join(self, user: object, *_more: object) -> None:
        self._note(self.joined, user)

    def disconnect(self, user: object, *_more: object) -> None:
        self._note(self.left, user)

    async def wait(self, seen: dict[str, float], user_id: str, timeout: float) -> float:
        with trio.fail_after(timeout):
            while user_id not in seen:
                await self.changed.wait()
        return seen[user_id]


async def one_failover(
    victim_url: str, victim: subprocess.Popen[bytes], observer_url: str
) -> float:
    """Seconds from SIGKILL of the victim's node to the observer's ``user:disconnect``."""
    observer = Observer()
    watcher = Client(transports=("websocket",), auth={"username": "observer"})
    watcher.on("user:join", observer.join)
    watcher.on("user:disconnect", observer.disconnect)
    user = Client(
        transports=("websocket",),
        auth={"username": f"victim-{os.getpid()}-{time.monotonic_ns() % 10**9}"},
        reconnection=False,
    )
    sessions: list[str] = []
    session_came = trio.Event()

    def session(data: dict[str, Any], *_offset: object) -> None:
        sessions.append(data["userId"])
        session_came.set()

    user.on("session", session)
    async with watcher.connect(observer_url):
        killed = trio.Event()

        async def hold_victim(task_status: trio.TaskStatus[None]) -> None:
            # The victim's connection ends with its node; that is the point, not an error.
            try:
                async with user.connect(victim_url):
                    task_status.started()
                    await killed.wait()
                    await user.wait_closed()
            except Exception:
                if not killed.is_set():
                    raise

        async with trio.open_nursery() as nursery:
            await nursery.start(hold_victim)
            with trio.fail_after(JOIN_TIMEOUT):
                await session_came.wait()
            user_id = sessions[0]
            await observer.wait(observer.joined, user_id, JOIN_TIMEOUT)
            victim.send_signal(signal.SIGKILL)
            began = trio.current_time()
            killed.set()
            ended = await observer.wait(observer.left, user_id, DISCONNECT_GRACE + 60)
            nursery.cancel_scope.cancel()
    return ended - began


def measure(redis_url: str, node_timeout: float | None, runs: int) -> list[float]:
    """``runs`` failovers of a fresh node A, observed from one node B."""
    times: list[float] = []
    with node(redis_url, node_timeout) as (observer_url, _b):
        for index in range(runs):
            with node(redis_url, node_timeout) as (victim_url, victim):
                took = trio.run(one_failover, victim_url, victim, observer_url)
            times.append(took)
            label = "default" if node_timeout is None else f"{node_timeout:g} s"
            print(f"  node timeout {label}, run {index + 1}: {took:.2f} s", file=sys.stderr)
            wait_ready(observer_url, None, 10.0)
    return times


def summary(times: Sequence[float]) -> dict[str, Any]:
    return {
        "runs": len(times),
        "min_s": round(min(times), 3),
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "times_s": [round(value, 3) for value in times],
    }


def parse_timeouts(text: str) -> list[float | None]:
    values: list[float | None] = []
    for part in (item.strip() for item in text.split(",")):
        if part == "default":
            values.append(None)
        elif part:
            value = float(part)
            if value <= 0:
                raise argparse.ArgumentTypeError("node timeouts must be positive")
            values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("give at least one node timeout")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="failovers per node timeout")
    parser.add_argument(
        "--node-timeouts",
        type=parse_timeouts,
        default=[None, 2.0],
        help="comma-separated seconds, 'default' for the server's own (default: default,2)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    results: dict[str, Any] = {"load_average_before": os.getloadavg()}
    with (
        tempfile.TemporaryDirectory(prefix="failover-") as directory,
        running_redis(Path(directory)) as (redis_url, _pid),
    ):
        for node_timeout in args.node_timeouts:
            label = "default" if node_timeout is None else f"{node_timeout:g}"
            results[label] = summary(measure(redis_url, node_timeout, args.runs))
    results["load_average_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("node timeout  runs  min s  median s  max s")
    for label, value in results.items():
        if isinstance(value, dict):
            print(
                f"{label:>12}  {value['runs']:>4}  {value['min_s']:>5.2f}  "
                f"{value['median_s']:>8.2f}  {value['max_s']:>5.2f}"
            )
    before, after = results["load_average_before"], results["load_average_after"]
    print(f"load average before {before[0]:.2f}, after {after[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
