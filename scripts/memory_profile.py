"""Where a held connection's memory goes: the real server, in this process, under tracemalloc.

Starts the chat server (memory store, limits off, the chosen front end) in this process
with ``tracemalloc`` tracing, connects ``--clients`` idle clients to it from a
``scripts/loadtest.py`` process (Engine.IO only, or the chat's Socket.IO CONNECT as a
user), waits until every one is connected and the server is quiet, then compares a snapshot
with the one taken before the clients came. Prints, per connection: the resident memory
added (what ``scripts/bench.py`` reports), what Python allocated (tracemalloc), the top
allocation sites grouped by line and by traceback, and the objects added by type.

Example: ``python -m scripts.memory_profile --clients 2000 --handshake engineio``.
Tracing slows the server and adds its own memory (not in the figures it prints, but in the
resident one): read the resident figure from ``scripts/bench.py`` or ``--frames 0`` (no
tracing), the breakdown from here. It also prints the resident figure after glibc's
``malloc_trim``: what is left of it is memory alive, the rest heap freed but kept.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import subprocess
import sys
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from functools import partial

import trio

from benchkit.processes import UNLIMITED, free_port, script_args
from benchkit.stats import raise_fd_limit, rss_kib
from minidiscord.app import create_app
from minidiscord.cli import settings_from
from minidiscord.frontend.hosting import serve
from minidiscord.runtime import tune_garbage_collector

# Seconds without a new session before the server counts as settled.
QUIET_S = 2.0


def type_counts() -> Counter[str]:
    gc.collect()
    return Counter(type(obj).__qualname__ for obj in gc.get_objects())


def rss_after_trim() -> int | None:
    """The resident memory once glibc has handed its free pages back (``malloc_trim``):
    how much of the resident figure is heap freed but kept, not objects alive."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    libc.malloc_trim(0)
    return rss_kib(os.getpid())


def print_top(title: str, stats: list[tracemalloc.StatisticDiff], clients: int, top: int) -> None:
    print(f"\n{title} (bytes per connection, count per connection)")
    for stat in stats[:top]:
        if stat.size_diff <= 0:
            break
        frames = stat.traceback.format(limit=None, most_recent_first=True)
        where = frames[0].strip() if frames else "?"
        print(
            f"{stat.size_diff / clients:9.1f} B {stat.count_diff / clients:6.2f}  {where}",
        )
        for line in frames[1:]:
            if line.startswith("  File"):
                print(f"{'':28}{line.strip()}")


def print_by_owner(stats: list[tracemalloc.StatisticDiff], clients: int, top: int) -> None:
    """Each allocation charged to the innermost line of this project that led to it."""
    owners: Counter[str] = Counter()
    for stat in stats:
        owner = "(outside minidiscord)"
        for frame in reversed(stat.traceback):
            if f"{os.sep}minidiscord{os.sep}" in frame.filename:
                package, module = frame.filename.rsplit(os.sep, 2)[-2:]
                owner = f"{package}/{module}:{frame.lineno}"
                break
        owners[owner] += stat.size_diff
    print("\nby the innermost minidiscord line (bytes per connection)")
    for owner, size in owners.most_common(top):
        print(f"{size / clients:9.1f} B  {owner}")


async def profile(args: argparse.Namespace) -> None:
    port = free_port()
    settings = settings_from(
        [
            *("--port", str(port), "--frontend", args.frontend, "--store", "memory"),
            *("--log-level", "warning"),
            *UNLIMITED,
            # Engine.IO-only clients never send CONNECT: keep them while a traced (slow)
            # server takes its time connecting the rest.
            *("--connect-timeout", "3600"),
        ],
        os.environ,
    )
    app = create_app(settings)
    tune_garbage_collector()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(serve, app, settings, stop.wait)
        engine = app.engine
        # Let startup's allocations settle before the baseline.
        await trio.sleep(0.5)
        before_types = type_counts()
        before = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        rss_before = rss_kib(os.getpid())
        command = script_args(
            "loadtest",
            *("--url", f"http://127.0.0.1:{port}", "-c", str(args.clients)),
            *("--handshake", args.handshake, "-d", "0", "--hold", str(args.hold), "-q"),
            *("--connect-concurrency", "200"),
        )
        async with trio.open_nursery() as load:
            process: trio.Process = await load.start(
                partial(trio.run_process, command, check=False, stdout=subprocess.DEVNULL)
            )
            last, quiet_since = -1, trio.current_time()
            with trio.move_on_after(args.hold):
                while True:
                    count = len(engine.sessions)
                    if count != last:
                        last, quiet_since = count, trio.current_time()
                    elif count >= args.clients and trio.current_time() - quiet_since > QUIET_S:
                        break
                    await trio.sleep(0.25)
            held = len(engine.sessions)
            after_types = type_counts()
            after = tracemalloc.take_snapshot() if before is not None else None
            rss_after = rss_kib(os.getpid())
            rss_trimmed = rss_after_trim()
            process.terminate()
        stop.set()
    clients = max(1, held)
    print(f"{held} connections held ({args.handshake}, {args.frontend} front end)")
    if rss_before is not None and rss_after is not None:
        print(f"resident memory added: {(rss_after - rss_before) / clients:.2f} KiB per connection")
        if rss_trimmed is not None:
            print(
                "resident memory added, after malloc_trim: "
                f"{(rss_trimmed - rss_before) / clients:.2f} KiB per connection"
            )
    if before is not None and after is not None:
        traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        print(f"traced by tracemalloc: {traced / clients / 1024:.2f} KiB per connection")
        print_top("by line", after.compare_to(before, "lineno"), clients, args.top)
        if args.tracebacks:
            by_traceback = after.compare_to(before, "traceback")
            print_top("by traceback", by_traceback, clients, args.top)
            print_by_owner(by_traceback, clients, args.top)
    print("\nobjects added per connection, by type")
    added = after_types - before_types
    for name, count in added.most_common(args.top):
        print(f"{count / clients:8.2f}  {name}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--handshake", choices=("engineio", "socketio"), default="engineio")
    parser.add_argument("--frontend", choices=("native", "hypercorn"), default="native")
    parser.add_argument(
        "--frames", type=int, default=1, help="traceback depth traced (0: no tracing)"
    )
    parser.add_argument("--tracebacks", action="store_true", help="also group by traceback")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--hold", type=float, default=300.0, help="the longest wait, seconds")
    args = parser.parse_args(argv)
    raise_fd_limit()
    if args.frames > 0:
        tracemalloc.start(args.frames)
    trio.run(profile, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
