"""Does one stalled client hurt the others? p99 among 999 readers, without and with it.

Starts the server pinned to one core, then runs the same fixed load (``loadtest.py``: 999
clients, one sender) twice: once alone, once with one more client that joins the chat and
then never reads again. Prints both latency distributions, and whether the server dropped
the stalled client as a slow consumer during the run (``/metrics``). The stalled client is
benchkit's lean WebSocket client, not ``minidiscord.client``: it must stop reading its socket
altogether, which a real client (that answers pings from its own reader) never does.

Example: ``python -m scripts.slow_consumer_bench --rate 5 --duration 30``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import urllib.request
from collections.abc import Iterator
from functools import partial
from typing import Any

import trio

from benchkit.processes import free_port, pinning, running, server_args
from benchkit.wire import LeanWebSocket
from scripts import loadtest


@contextlib.contextmanager
def _server(port: int, client_buffer: int, frontend: str) -> Iterator[None]:
    pin, _ = pinning()
    options = ["--store", "memory", "--client-buffer", str(client_buffer), "--log-level", "warning"]
    options += ["--frontend", frontend]
    with running([*pin, *server_args(port, *options)], port):
        yield


def _slow_consumer_drops(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("minidiscord_slow_consumer_disconnects_total "):
                return float(line.split()[1])
    return 0.0


async def _loadtest(port: int, args: argparse.Namespace) -> dict[str, Any]:
    _, pin = pinning()
    run = partial(
        loadtest.run_command,
        f"http://127.0.0.1:{port}",
        *("-c", str(args.clients), "-s", "1", "-r", str(args.rate)),
        *("-d", str(args.duration), "--size", str(args.size)),
        prefix=pin,
    )
    # In a thread: the stalled client's task goes on meanwhile.
    return await trio.to_thread.run_sync(run)


async def _stalled_client(port: int, joined: trio.Event) -> None:
    """Join the chat, then never read again (the socket stays open until cancelled)."""
    client = await LeanWebSocket.connect("127.0.0.1", port, "/socket.io/?EIO=4&transport=websocket")
    try:
        await client.send_text('40{"username":"stalled"}')
        while not any(frame.startswith(b'42["users"') for frame in await client.receive_frames()):
            pass
        joined.set()
        await trio.sleep_forever()
    finally:
        await client.aclose()


async def _measure(args: argparse.Namespace, stalled: bool) -> dict[str, Any]:
    port = free_port()
    with _server(port, args.client_buffer, args.frontend):
        async with trio.open_nursery() as nursery:
            if stalled:
                joined = trio.Event()
                nursery.start_soon(_stalled_client, port, joined)
                await joined.wait()
            report = await _loadtest(port, args)
            drops = await trio.to_thread.run_sync(_slow_consumer_drops, port)
            nursery.cancel_scope.cancel()
    result = report["result"]
    return {
        "stalled_client": stalled,
        "delivery_ratio": result["delivery_ratio"],
        "deliveries_per_s": result["deliveries_per_s"],
        "latency_ms": result["latency_ms"],
        "server_dropped_slow_consumers": drops,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=999, help="readers besides the stalled one")
    parser.add_argument("--rate", type=float, default=5.0, help="messages/s from the sender")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=1000, help="characters per message")
    parser.add_argument("--client-buffer", type=int, default=1024)
    parser.add_argument("--frontend", choices=("hypercorn", "native"), default="hypercorn")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [await _measure(args, stalled=False), await _measure(args, stalled=True)]
    if args.json:
        print(json.dumps(runs, indent=2))
        return
    print(
        f"{'run':<22}{'ratio':>8}{'deliv/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'drops':>7}"
    )
    for run in runs:
        latency = run["latency_ms"]
        name = "with 1 stalled client" if run["stalled_client"] else "all clients read"
        print(
            f"{name:<22}{run['delivery_ratio']:>8.4f}{run['deliveries_per_s']:>10.0f}"
            f"{latency['p50']:>9.1f}{latency['p99']:>9.1f}{latency['max']:>9.1f}"
            f"{run['server_dropped_slow_consumers']:>7.0f}"
        )


if __name__ == "__main__":
    trio.run(main)
