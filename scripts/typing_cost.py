"""Server CPU and frames when many connected clients type in one channel (issue 18).

Starts the chat server (memory store, limits off) as a subprocess, connects ``--clients``
lean WebSocket chat clients (``benchkit.wire``), then measures two phases of ``--duration``
seconds each: everyone idle, then ``--typists`` of them sending ``typing:start`` for
``general`` every ``--every`` seconds (staggered, as the web client does while its user
types). For each phase: the server's CPU seconds (utime+stime), the `typing` frames the
clients received, and the starts sent. Without coalescing each start that changes who
types would cost one frame per member; the snapshots cost at most one frame per member a
second. Bounded: the whole run takes about connect time + 2 x duration.

    python -m scripts.typing_cost --clients 1000 --typists 1000 --duration 10

Figures are for the report and docs; nothing asserts them.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

import orjson
import trio

from benchkit.processes import free_port, running, server_args
from benchkit.stats import cpu_s, raise_fd_limit
from benchkit.wire import LeanWebSocket, WireError

TYPING_PREFIX = b'42["typing",'
CONNECT_CONCURRENCY = 50


class Clients:
    def __init__(self) -> None:
        self.typing_frames = 0
        self.starts = 0
        self.sockets: list[LeanWebSocket] = []
        self.joined = 0


async def join(
    url_host: str,
    port: int,
    number: int,
    clients: Clients,
    limit: trio.Semaphore,
    task_status: trio.TaskStatus[LeanWebSocket] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with limit:
        ws = await LeanWebSocket.connect(url_host, port, "/socket.io/?EIO=4&transport=websocket")
        frames = await ws.receive_frames()
        if not frames or not frames[0].startswith(b"0{"):
            raise WireError(f"expected the Engine.IO open packet, got {frames[:1]!r}")
        await ws.send_text("40" + orjson.dumps({"username": f"typist{number}"}).decode())
        while not any(f.startswith(b'42["users"') for f in frames):
            frames = await ws.receive_frames()
            if not frames:
                raise WireError("closed before the greeting")
    clients.joined += 1
    task_status.started(ws)
    while True:
        frames = await ws.receive_frames()
        if not frames:
            return
        for frame in frames:
            if frame.startswith(TYPING_PREFIX):
                clients.typing_frames += 1
            elif frame == b"2":
                await ws.send_text("3")


async def type_in(
    ws: LeanWebSocket, offset: float, every: float, until: float, clients: Clients
) -> None:
    await trio.sleep(offset)
    start = '42["typing:start",{"channel":"general"}]'
    while trio.current_time() < until:
        await ws.send_text(start)
        clients.starts += 1
        await trio.sleep(every)


async def measure(port: int, pid: int, options: argparse.Namespace) -> dict[str, Any]:
    clients = Clients()
    limit = trio.Semaphore(CONNECT_CONCURRENCY)
    async with trio.open_nursery() as nursery:
        began = time.monotonic()
        with trio.fail_after(options.connect_timeout):
            for number in range(options.clients):
                ws = await nursery.start(join, "127.0.0.1", port, number, clients, limit)
                clients.sockets.append(ws)
        connect_s = time.monotonic() - began
        await trio.sleep(2.0)  # the last joins' announcements
        phases: dict[str, Any] = {}
        for phase in ("idle", "typing"):
            frames_before, starts_before = clients.typing_frames, clients.starts
            cpu_before, load = cpu_s(pid), os.getloadavg()[0]
            until = trio.current_time() + options.duration
            if phase == "typing":
                async with trio.open_nursery() as typists:
                    for i, ws in enumerate(clients.sockets[: options.typists]):
                        offset = options.every * i / max(1, options.typists)
                        typists.start_soon(type_in, ws, offset, options.every, until, clients)
            else:
                await trio.sleep_until(until)
            await trio.sleep(1.0)  # the last snapshots and expiries in flight
            cpu_after = cpu_s(pid)
            if cpu_before is None or cpu_after is None:
                raise RuntimeError(f"the server (pid {pid}) is gone")
            phases[phase] = {
                "server_cpu_s": round(cpu_after - cpu_before, 3),
                "server_cpu_percent": round(
                    100 * (cpu_after - cpu_before) / (options.duration + 1), 1
                ),
                "typing_frames": clients.typing_frames - frames_before,
                "typing_frames_per_client_per_s": round(
                    (clients.typing_frames - frames_before)
                    / options.clients
                    / (options.duration + 1),
                    2,
                ),
                "starts_sent": clients.starts - starts_before,
                "load_1m_before": round(load, 2),
            }
        nursery.cancel_scope.cancel()
    return {
        "clients": options.clients,
        "typists": options.typists,
        "joined": clients.joined,
        "connect_s": round(connect_s, 1),
        "duration_s": options.duration,
        **phases,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--typists", type=int, default=1000)
    parser.add_argument(
        "--every", type=float, default=2.0, help="seconds between a typist's starts"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each phase")
    parser.add_argument("--connect-timeout", type=float, default=120.0)
    parser.add_argument("--frontend", choices=("native", "hypercorn"), default="native")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    raise_fd_limit()
    port = free_port()
    command = server_args(
        port,
        "--store",
        "memory",
        "--frontend",
        options.frontend,
        "--log-level",
        "warning",
        "--recovery-window",
        "0",
        "--presence-grace",
        "0",
    )
    with running(command, port) as server:
        report = trio.run(measure, port, server.pid, options)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
