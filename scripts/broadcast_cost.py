"""What a broadcast costs the broadcasting task per recipient: the in-memory adapter's loop
that queues one frame for every member of a room, measured alone.

One SocketServer in this process on the native front end, ``--clients`` lean WebSocket
clients in one room (real sockets on loopback, each read by its own task). Each batch is
``--per-round`` emits to the room back to back, timed with this thread's CPU clock around
the emits only (they never await: the writes happen afterwards, in the engine's rounds of
direct writes, which are not timed), then a wait until every client has read them. The
figure is the median over ``--batches`` batches of CPU nanoseconds per recipient.

A thread's CPU time does not count time the thread waits for the core, so this stays
comparable between two source trees on a shared machine, where a server's latency does
not. Run it from this tree with ``PYTHONPATH`` set to each tree in turn, e.g.::

    PYTHONPATH=/tmp/fanout-base python scripts/broadcast_cost.py --clients 1000
    PYTHONPATH=. python scripts/broadcast_cost.py --clients 1000

Figures are for docs/benchmarks.md; nothing asserts them.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from typing import Any

import trio

from minidiscord import serve
from minidiscord.sockets import Socket, SocketServer
from scripts.adapter_bench import Receiver, wait_for

ROOM = "room"
TEXT = "x" * 120  # about a chat message's size on the wire


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    sio = SocketServer()

    @sio.on("connect")
    async def connect(socket: Socket, auth: object) -> None:
        socket.join(ROOM)

    room = sio.to(ROOM)
    receivers = [Receiver() for _ in range(args.clients)]
    per_recipient_ns: list[float] = []
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        started = await nursery.start(
            functools.partial(serve, sio, host="127.0.0.1", port=0, shutdown_trigger=stop.wait)
        )
        for receiver in receivers:
            await nursery.start(receiver.run, started[0])
        sent = 0
        complete = True
        for batch in range(args.warmup + args.batches):
            cpu = time.thread_time()
            for _ in range(args.per_round):
                # As the adapter benchmark's receivers read them (no send time: no latency).
                room.emit("m", TEXT, 0)
            cpu = time.thread_time() - cpu
            sent += args.per_round
            complete = complete and await wait_for(receivers, sent, 30)
            if batch >= args.warmup:
                per_recipient_ns.append(cpu / args.per_round / args.clients * 1e9)
        stop.set()
        nursery.cancel_scope.cancel()
    return {
        "clients": args.clients,
        "per_round": args.per_round,
        "batches": args.batches,
        "ns_per_recipient_median": round(statistics.median(per_recipient_ns), 1),
        "ns_per_recipient_min": round(min(per_recipient_ns), 1),
        "all_delivered": complete and all(receiver.count == sent for receiver in receivers),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000, help="members of the room")
    parser.add_argument(
        "--per-round", type=int, default=10, help="emits per batch (what one round carries)"
    )
    parser.add_argument("--batches", type=int, default=40, help="timed batches")
    parser.add_argument("--warmup", type=int, default=5, help="batches before timing")
    args = parser.parse_args(argv)
    if min(args.clients, args.per_round, args.batches) < 1 or args.warmup < 0:
        parser.error("clients, per-round and batches must be >= 1, warmup >= 0")
    print(json.dumps(trio.run(measure, args)))


if __name__ == "__main__":
    main()
