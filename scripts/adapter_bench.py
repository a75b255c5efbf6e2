"""What a cross-server broadcast costs on the Redis adapter: two SocketServers in this
process (A sends, B's clients receive), a private redis-server, lean WebSocket clients.

It measures, for broadcasts from A to every socket of "/" (none of them on A):

- the sender's cost: microseconds A's ``emit`` takes (encoding the message and queueing it
  for the writer; it never waits on Redis);
- a burst: ``--messages`` broadcasts at once, and the time until B's clients have them
  all: cross-server broadcasts per second, deliveries per second, and this process's CPU
  (both servers and the clients) and redis-server's, per broadcast;
- latency at a fixed rate (``--rate`` for ``--duration`` seconds): from A's emit to a
  client of B reading it, p50/p99/max.

Example: ``python -m scripts.adapter_bench --clients 10 --messages 20000 --rate 2000``.
The figures are this machine's (two shared cores: the servers, the clients and Redis
compete for them); they are for the report and docs/benchmarks.md, not asserted anywhere.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from benchkit.redis import running_redis
from benchkit.stats import cpu_s, own_cpu_s, percentile_ms
from benchkit.wire import LeanWebSocket, split_url
from minidiscord import serve
from minidiscord.redis.adapter import RedisAdapter
from minidiscord.sockets import SocketServer


class Receiver:
    """A lean client of B: counts the broadcasts it reads and their delays."""

    def __init__(self) -> None:
        self.count = 0
        self.delays: list[float] = []
        self.changed = trio.Event()

    async def run(self, url: str, task_status: trio.TaskStatus[None]) -> None:
        host, port, target = split_url(url)
        ws = await LeanWebSocket.connect(host, port, target)
        await ws.receive_frames()  # the Engine.IO open packet
        await ws.send_text("40")
        while not any(frame.startswith(b"40") for frame in await ws.receive_frames()):
            pass
        task_status.started()
        while True:
            frames = await ws.receive_frames()
            now = time.perf_counter()
            for frame in frames:
                if frame.startswith(b"42"):
                    sent = json.loads(frame[2:])[2]
                    if sent:
                        self.delays.append(now - sent)
                    self.count += 1
            self.changed.set()
            self.changed = trio.Event()


async def wait_for(receivers: list[Receiver], count: int, timeout: float) -> bool:
    with trio.move_on_after(timeout):
        for receiver in receivers:
            while receiver.count < count:
                await receiver.changed.wait()
        return True
    return False


async def bench_on(redis_url: str, redis_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    a = SocketServer(adapter=RedisAdapter.factory(redis_url, prefix="bench"))
    b = SocketServer(adapter=RedisAdapter.factory(redis_url, prefix="bench"))
    results: dict[str, Any] = {"clients_on_b": args.clients, "fsync": args.fsync}
    async with trio.open_nursery() as nursery:
        stops = []
        urls = []
        for sio in (a, b):
            stop = trio.Event()
            stops.append(stop)
            started = await nursery.start(
                functools.partial(serve, sio, host="127.0.0.1", port=0, shutdown_trigger=stop.wait)
            )
            urls.append(started[0])
        while await a.of("/").adapter.server_count() < 2:  # noqa: ASYNC110 - a Redis query
            await trio.sleep(0.05)
        receivers = [Receiver() for _ in range(args.clients)]
        for receiver in receivers:
            await nursery.start(receiver.run, urls[1])

        # Warm-up: every path taken once.
        for number in range(100):
            a.emit("m", number, 0)
        await wait_for(receivers, 100, 10)

        # The burst.
        sent = 100
        cpu0, redis0 = own_cpu_s(), cpu_s(redis_pid)
        started = time.perf_counter()
        for number in range(args.messages):
            a.emit("m", number, 0)
        emitted = time.perf_counter()
        sent += args.messages
        complete = await wait_for(receivers, sent, 60)
        done = time.perf_counter()
        cpu1, redis1 = own_cpu_s(), cpu_s(redis_pid)
        results["sender_us_per_emit"] = round((emitted - started) / args.messages * 1e6, 2)
        results["burst_complete"] = complete
        results["burst_broadcasts_per_s"] = round(args.messages / (done - started))
        results["burst_deliveries_per_s"] = round(args.messages * args.clients / (done - started))
        results["process_cpu_us_per_broadcast"] = round((cpu1 - cpu0) / args.messages * 1e6, 1)
        if redis0 is not None and redis1 is not None:
            results["redis_cpu_us_per_broadcast"] = round(
                (redis1 - redis0) / args.messages * 1e6, 1
            )

        # Latency at a fixed rate.
        for receiver in receivers:
            receiver.delays.clear()
        interval = 1 / args.rate
        total = int(args.rate * args.duration)
        begin = time.perf_counter()
        for number in range(total):
            due = begin + number * interval
            pause = due - time.perf_counter()
            if pause > 0:
                await trio.sleep(pause)
            a.emit("m", number, time.perf_counter())
        sent += total
        await wait_for(receivers, sent, 30)
        delays = [delay for receiver in receivers for delay in receiver.delays]
        results["rate_per_s"] = args.rate
        results["latency_ms"] = {
            "p50": percentile_ms(delays, 50),
            "p99": percentile_ms(delays, 99),
            "max": round(max(delays) * 1000, 2) if delays else None,
        }
        node = a.of("/").adapter
        assert isinstance(node, RedisAdapter)
        metrics = node.node.metrics
        assert metrics is not None
        results["lost_for_b"] = sum(
            sample.value
            for metric in metrics.lost.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
        for stop in stops:
            stop.set()
        nursery.cancel_scope.cancel()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10, help="clients on server B")
    parser.add_argument("--messages", type=int, default=20_000, help="broadcasts in the burst")
    parser.add_argument("--rate", type=float, default=2_000.0, help="broadcasts/s for latency")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds at that rate")
    parser.add_argument("--fsync", choices=("always", "everysec"), default="always")
    args = parser.parse_args(argv)
    durability = ("--appendonly", "yes", "--appendfsync", args.fsync)
    with (
        tempfile.TemporaryDirectory() as directory,
        running_redis(Path(directory), durability) as (url, pid),
    ):
        print(json.dumps(trio.run(bench_on, url, pid, args), indent=2))


if __name__ == "__main__":
    main()
