"""CPU per chat message inside the app, without sockets: our chat app beside the floor app.

On two shared cores a fixed-rate run (``scripts/fanout_cost.py``) moves 20-30% between
quiet and noisy spells, so a few microseconds of a message's own handling cannot be seen
there. This drives the ASGI app in one process instead: ``--clients`` WebSocket
connections whose front end is a memory channel in and a counter out (offering the batch and
direct-send extensions, as both our front ends do, each write taken whole at once), one of
which sends ``message:channel:send`` with an ack ``--messages`` times. The CPU time (the
thread's) until every delivery and ack has been handed to the front end, per message, is
reported for each of ``--rounds`` rounds after one more to warm up; the lowest is the least
disturbed. What is left
out is what both apps share: the front end's parsing and writing, and the system calls.

    python -m scripts.message_cost --app ours --clients 100
    python -m scripts.message_cost --app floor --clients 100

Figures are for docs/benchmarks.md; nothing asserts them.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
import trio
import trio.lowlevel

from benchkit.processes import UNLIMITED
from minidiscord.app import create_app
from minidiscord.asgi_io import DIRECT_SEND, SEND_MANY, ASGIApp, Message
from minidiscord.cli import settings_from
from minidiscord.runtime import tune_garbage_collector
from scripts.floor_hypercorn import Floor

# Every limit off, as the load generator's runs have them (benchkit's UNLIMITED), and no
# per-connection timers; the environment left out, so that nothing of the shell's applies.
SETTINGS = settings_from(
    [
        *UNLIMITED,
        *("--store", "memory", "--recovery-window", "0", "--presence-grace", "0"),
        *("--log-level", "warning"),
    ],
    {},
)
SEND = orjson.dumps(["message:channel:send", "general", "hello there"]).decode()


class Connection:
    """One client's WebSocket as the app sees it; counts the frames it is given."""

    def __init__(self, app: ASGIApp, number: int) -> None:
        self.app = app
        self.number = number
        self.incoming, self._receiving = trio.open_memory_channel[Message](2**20)
        self.frames = 0

    def scope(self) -> dict[str, Any]:
        return {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": "/socket.io/",
            "raw_path": b"/socket.io/",
            "query_string": b"EIO=4&transport=websocket",
            "headers": [(b"host", b"127.0.0.1:8181")],
            "client": ("127.0.0.1", 10_000 + self.number),
            "server": ("127.0.0.1", 8181),
            "subprotocols": [],
            "extensions": {SEND_MANY: {}, DIRECT_SEND: {"send": self._direct}},
        }

    def _direct(self, payloads: Sequence[str | bytes]) -> int:
        self.frames += len(payloads)
        return 0

    async def _receive(self) -> Message:
        return await self._receiving.receive()

    async def _send(self, message: Any) -> None:
        self.frames += len(message["frames"]) if message["type"] == SEND_MANY else 1

    async def run(self) -> None:
        await self.app(self.scope(), self._receive, self._send)

    def joins(self) -> None:
        self.incoming.send_nowait({"type": "websocket.connect"})
        auth = orjson.dumps({"username": f"user{self.number}", "connectErrors": True}).decode()
        self.incoming.send_nowait({"type": "websocket.receive", "text": f"40{auth}"})


async def measure(kind: str, clients: int, messages: int, rounds: int) -> list[float]:
    """Microseconds of CPU per message, one figure per round."""
    figures: list[float] = []
    async with trio.open_nursery() as nursery:
        app: ASGIApp
        if kind == "ours":
            chat = create_app(SETTINGS)
            await chat.start_services(nursery)
            app = chat
        else:
            floor = Floor()
            nursery.start_soon(floor.writes.run)
            app = floor
        connections = [Connection(app, number) for number in range(clients)]
        for connection in connections:
            nursery.start_soon(connection.run)
            connection.joins()
        # Everyone joined, and the joins' fan-out written.
        await trio.sleep(0.5 + clients / 500)
        sender = connections[0]
        # The first thousands of messages cost more (caches filling, the store's lists
        # growing): a round not reported.
        for round_ in range(rounds + 1):
            gc.collect()
            before = sum(connection.frames for connection in connections)
            started = time.thread_time()
            for number in range(messages):
                sender.incoming.send_nowait(
                    {"type": "websocket.receive", "text": f"42{number}{SEND}"}
                )
                # The sender's reader takes it, and the deliveries go out, before the next.
                await trio.lowlevel.checkpoint()
                await trio.lowlevel.checkpoint()
            expected = before + messages * (clients + 1)
            # No event says a front end was handed a frame: the counters are polled.
            while sum(connection.frames for connection in connections) < expected:
                await trio.lowlevel.checkpoint()
            if round_:
                figures.append(round((time.thread_time() - started) / messages * 1e6, 1))
        nursery.cancel_scope.cancel()
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", choices=("ours", "floor"), default="ours")
    parser.add_argument("--clients", type=int, default=1, help="members of the room (sender too)")
    parser.add_argument("--messages", type=int, default=2000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    tune_garbage_collector()
    figures = trio.run(measure, args.app, args.clients, args.messages, args.rounds)
    record = {"app": args.app, "clients": args.clients, "messages": args.messages}
    print(json.dumps({**record, "us_per_message": figures, "lowest": min(figures)}))


if __name__ == "__main__":
    main(sys.argv[1:])
