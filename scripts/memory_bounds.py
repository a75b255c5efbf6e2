"""The most memory one address can make the server hold, measured on a real server process.

Starts the server with its default limits (memory store) and, from one address, runs each
attack while sampling the server's resident memory:

- ``hoard``: clients join the chat, ask for history pages (up to 100 messages of 2,000
  characters: about 200 KB each) as fast as their limits allow, and never read.
- ``partial``: clients each send one WebSocket message just under ``--max-payload`` but
  withhold its last byte, so the server holds the unfinished message.
- ``idle``: clients that connect and do nothing (the baseline cost of a connection).

Prints the server's resident memory before, at its peak and after, and the peak growth per
attacking client. Example: ``python scripts/memory_bounds.py --frontend native --clients 40``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Any

import trio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Sibling scripts, found through the path entry above.
from loadtest import RawWebSocket, encode_client_frame
from serverproc import free_port, wait_healthy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = "/socket.io/?EIO=4&transport=websocket"
TEXT = "x" * 2000
MiB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def join(port: int, name: str) -> RawWebSocket:
    ws = await RawWebSocket.connect("127.0.0.1", port, TARGET)
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
    whole = encode_client_frame(0x1, b"4" + b"y" * (size - 1), mask=b"\0\0\0\0")
    for number in range(clients):
        ws = await join(port, f"partial{number}")
        # Refused (the address holds enough unfinished input): the server closed it.
        with contextlib.suppress(trio.BrokenResourceError):
            await ws._stream.send_all(whole[:-1])
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
    command = [
        sys.executable,
        "-m",
        "minidiscord",
        "--port",
        str(port),
        "--store",
        "memory",
        "--frontend",
        args.frontend,
        "--max-payload",
        str(args.max_payload),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        wait_healthy(port, process, 20)
        if args.attack == "hoard":
            trio.run(fill_history, port)
            time.sleep(1.0)
        print(json.dumps(trio.run(measure, args, process.pid, port)))
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    main()
