"""The most memory one address can make the server hold, measured on a real server process.

Starts the server with its default limits (memory store) and, from one address, runs each
attack while sampling the server's resident memory:

- ``hoard``: clients join the chat, ask for history pages (up to 100 messages of 2,000
  characters: about 200 KB each) as fast as their limits allow, and never read.
- ``partial``: clients each send one WebSocket message just under ``--max-payload`` but
  withhold its last byte, so the server holds the unfinished message.
- ``idle``: clients that connect and do nothing (the baseline cost of a connection).

Prints the server's resident memory before, at its peak and after, and the peak growth per
attacking client. Example: ``python -m scripts.memory_bounds --frontend native --clients 40``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from typing import Any

import trio

from benchkit.processes import free_port, running, server_args
from benchkit.stats import rss_kib
from benchkit.wire import OP_TEXT, LeanWebSocket, client_frame_head

TARGET = "/socket.io/?EIO=4&transport=websocket"
TEXT = "x" * 2000
MiB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    kib = rss_kib(pid)
    if kib is None:
        raise RuntimeError(f"no VmRSS for process {pid}")
    return kib * 1024


async def join(port: int, name: str) -> LeanWebSocket:
    ws = await LeanWebSocket.connect("127.0.0.1", port, TARGET)
    await ws.receive_frames()  # the Engine.IO open packet
    await ws.send_text("40" + json.dumps({"username": name}))
    return ws


async def fill_history(port: int) -> None:
    """100 messages of 2,000 characters in `general`, within every default limit."""
    for writer in range(10):
        ws = await join(port, f"writer{writer}")
        for number in range(10):
            await ws.send_text(f'42{number}["message:channel:send","general","{TEXT}"]')
        acked = 0
        while acked < 10:
            acked += sum(frame.startswith(b"43") for frame in await ws.receive_frames())
        await ws.aclose()


async def hoard(port: int, clients: int) -> None:
    sockets = []
    for number in range(clients):
        ws = await join(port, f"hoarder{number}")
        for page in range(10):  # the whole burst of --history-rate
            await ws.send_text(f'42{page}["channel:history","general",{{"limit":100}}]')
        sockets.append(ws)
    await trio.sleep(3.0)
    for ws in sockets:
        await ws.aclose()


async def partial(port: int, clients: int, max_payload: int) -> None:
    size = max_payload - 1
    sockets = []
    # One text frame declaring `size` bytes, of which all but the last are sent.
    unfinished = client_frame_head(OP_TEXT, size) + b"4" + b"y" * (size - 2)
    for number in range(clients):
        ws = await join(port, f"partial{number}")
        # Refused (the address holds enough unfinished input): the server closed it.
        with contextlib.suppress(trio.BrokenResourceError):
            await ws.send_bytes(unfinished)
        sockets.append(ws)
    await trio.sleep(3.0)
    for ws in sockets:
        await ws.aclose()


async def idle(port: int, clients: int) -> None:
    sockets = [await join(port, f"idle{number}") for number in range(clients)]
    await trio.sleep(3.0)
    for ws in sockets:
        await ws.aclose()


async def measure(args: argparse.Namespace, pid: int, port: int) -> dict[str, Any]:
    peak = before = rss_bytes(pid)

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_bytes(pid))
            await trio.sleep(0.02)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample)
        if args.attack == "hoard":
            await hoard(port, args.clients)
        elif args.attack == "partial":
            await partial(port, args.clients, args.max_payload)
        else:
            await idle(port, args.clients)
        await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    after = rss_bytes(pid)
    return {
        "attack": args.attack,
        "frontend": args.frontend,
        "clients": args.clients,
        "rss_before_mib": round(before / MiB, 1),
        "rss_peak_mib": round(peak / MiB, 1),
        "rss_after_mib": round(after / MiB, 1),
        "peak_growth_per_client_kib": round((peak - before) / args.clients / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attack", choices=("hoard", "partial", "idle"), default="hoard")
    parser.add_argument("--frontend", choices=("hypercorn", "native"), default="hypercorn")
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--max-payload", type=int, default=1_000_000)
    args = parser.parse_args()
    port = free_port()
    options = ["--store", "memory", "--frontend", args.frontend]
    options += ["--max-payload", str(args.max_payload), "--log-level", "warning"]
    # The server's own limits stay on: they are what is measured.
    with running(server_args(port, *options, unlimited=False), port) as process:
        if args.attack == "hoard":
            trio.run(fill_history, port)
            time.sleep(1.0)
        print(json.dumps(trio.run(measure, args, process.pid, port)))


if __name__ == "__main__":
    main()
