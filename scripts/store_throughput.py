"""Messages per second a store takes from many concurrent senders, in process (no server).

Each sender calls ``add_message`` in a loop and awaits it (the chat's send path: a message
is acknowledged once the store returned), so the figure is what the store's grouping of
concurrent writes gives: one SQLite transaction and fsync per group; one Redis pipeline
round trip (and one AOF fsync with ``appendfsync always``) per group.

Stores: ``sqlite`` (a file in a temporary directory), ``redis`` (a private redis-server on a
free loopback port, ``appendonly yes``, ``appendfsync always``, unless ``--redis-url``
names one) and ``memory`` (the floor: no I/O). Runs alternate between stores
(``--repeats``), the best run of each counts (a shared machine is noisy), and the
Redis/SQLite ratio is printed.

Example: ``python -m scripts.store_throughput --senders 50 --duration 5 --repeats 3``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import trio

from benchkit.redis import running_redis
from benchkit.stats import cpu_s, own_cpu_s, percentile_ms
from minidiscord.chat.models import User
from minidiscord.chat.store.factory import RunnableStore, open_store
from minidiscord.chat.store.redis import RedisStore
from minidiscord.chat.store.sqlite import SqliteStore
from minidiscord.redis.target import parse_redis_url

STORES = ("sqlite", "redis", "memory")


@dataclass
class Run:
    store: str
    repeat: int
    messages_per_s: float
    messages: int
    p50_ms: float | None
    p99_ms: float | None
    # Round trips (Redis batches, SQLite transactions) in the measured span.
    groups: int | None
    per_group: float | None
    # CPU per message: this process (the store's client side, SQLite included), and the
    # private redis-server (none with --redis-url). Steadier than messages/s on a busy machine.
    client_cpu_us: float
    redis_cpu_us: float | None


def _groups(store: RunnableStore) -> int | None:
    if isinstance(store, RedisStore):
        return store.batches
    if isinstance(store, SqliteStore):
        return store.commits
    return None


@asynccontextmanager
async def opened(
    kind: str, directory: Path, redis_url: str, n: int
) -> AsyncIterator[RunnableStore]:
    if kind == "redis":
        # A fresh prefix per run: every run starts from an empty chat.
        store = open_store(kind, "", redis=parse_redis_url(redis_url), prefix=f"bench{n}")
    else:
        store = open_store(kind, str(directory / f"bench{n}.db"))
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        try:
            yield store
        finally:
            await store.close()


@dataclass
class Measured:
    messages: int
    elapsed: float
    latencies: list[float]
    groups: int | None
    client_cpu_s: float
    redis_cpu_s: float | None


async def measure(
    store: RunnableStore, args: argparse.Namespace, redis_pid: int | None
) -> Measured:
    author = User("bench", "bench")
    text = "x" * args.size
    latencies: list[float] = []
    measuring = False
    done = 0

    async def sender(n: int) -> None:
        nonlocal done
        while True:
            started = time.perf_counter()
            await store.add_message("general", author, f"{n} {text}", int(time.time() * 1000))
            if measuring:
                done += 1
                latencies.append(time.perf_counter() - started)
            # The memory store never waits: without this one sender would hold the loop.
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for n in range(args.senders):
            nursery.start_soon(sender, n)
        await trio.sleep(args.warmup)
        groups_before = _groups(store)
        cpu_before, redis_before = own_cpu_s(), _cpu(redis_pid)
        measuring, started = True, time.perf_counter()
        await trio.sleep(args.duration)
        measuring, elapsed = False, time.perf_counter() - started
        cpu_after, redis_after = own_cpu_s(), _cpu(redis_pid)
        groups_after = _groups(store)
        nursery.cancel_scope.cancel()
    groups = None if groups_before is None or groups_after is None else groups_after - groups_before
    redis_cpu = None if redis_before is None or redis_after is None else redis_after - redis_before
    return Measured(done, elapsed, latencies, groups, cpu_after - cpu_before, redis_cpu)


def _cpu(pid: int | None) -> float | None:
    return None if pid is None else cpu_s(pid)


async def bench(
    args: argparse.Namespace, directory: Path, redis_url: str, redis_pid: int | None
) -> list[Run]:
    """Every store, ``args.repeats`` times; ``redis_pid`` (to read its CPU) when known."""
    runs: list[Run] = []
    n = 0
    for repeat in range(args.repeats):
        for kind in args.stores:
            n += 1
            async with opened(kind, directory, redis_url, n) as store:
                pid = redis_pid if kind == "redis" else None
                m = await measure(store, args, pid)
            done = max(m.messages, 1)
            runs.append(
                Run(
                    store=kind,
                    repeat=repeat,
                    messages_per_s=round(m.messages / m.elapsed, 1),
                    messages=m.messages,
                    p50_ms=percentile_ms(m.latencies, 50),
                    p99_ms=percentile_ms(m.latencies, 99),
                    groups=m.groups,
                    per_group=round(m.messages / m.groups, 1) if m.groups else None,
                    client_cpu_us=round(m.client_cpu_s / done * 1e6, 1),
                    redis_cpu_us=None
                    if m.redis_cpu_s is None
                    else round(m.redis_cpu_s / done * 1e6, 1),
                )
            )
            print(json.dumps(asdict(runs[-1])), flush=True)
    return runs


def summary(runs: Sequence[Run]) -> dict[str, object]:
    best = {
        kind: max((r for r in runs if r.store == kind), key=lambda r: r.messages_per_s)
        for kind in {r.store for r in runs}
    }
    result: dict[str, object] = {kind: asdict(run) for kind, run in sorted(best.items())}
    if "redis" in best and "sqlite" in best and best["sqlite"].messages_per_s:
        result["redis_over_sqlite"] = round(
            best["redis"].messages_per_s / best["sqlite"].messages_per_s, 2
        )
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", type=int, default=100, help="characters per message")
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    parser.add_argument("--redis-url", help="an existing Redis to use (default: a private one)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="store-throughput-") as tmp:
        directory = Path(tmp)
        if args.redis_url is not None:
            runs = trio.run(bench, args, directory, args.redis_url, None)
        else:
            with running_redis(directory / "redis") as (redis_url, redis_pid):
                runs = trio.run(bench, args, directory, redis_url, redis_pid)
    print(json.dumps({"best": summary(runs)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
