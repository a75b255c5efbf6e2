"""The floor: an app that does nothing but the chat broadcast, the way our server delivers it.

No Engine.IO session, no Socket.IO layer, no chat, no store, no heartbeat: a WebSocket
answers the Engine.IO open and the Socket.IO CONNECT, and each `message:channel:send` is
encoded once into a frame that goes to every connection as our server's broadcasts do,
through the engine's own delivery parts: each connection's :class:`Outbox` (bounded in
frames and bytes; over either bound the client is dropped, the slow-consumer rule), the
rounds of direct writes of :class:`DirectWrites` (one non-blocking ``send(2)`` per idle
client for everything a round gathered, with the same pause after a costly round), and a
writer task per connection (:func:`write_outbox`) that runs only for what the kernel did not
take, and for the acks. The front ends are ours: the native one, or hypercorn with the
engine's batches and direct sends (:mod:`minidiscord.hypercorn_sends`) and its messages
handed to the app in hypercorn's own task (:mod:`minidiscord.hypercorn_receives`).
Whatever our server costs above this is our layers; what this costs is the host and the
delivery design.

It answers what ``scripts/loadtest.py`` and ``scripts/bench.py`` ask: any HTTP request
(their readiness probes) with 200, ``/metrics`` with our counters (frames delivered, rounds
of direct writes and the clients they wrote), so that the load generator checks its counts
against the floor's as against our server's. Used by ``python -m scripts.bench --target``
and ``scripts/fanout_cost.py`` (a tree given as ``NAME=floor:PATH``).

Example: ``python -m scripts.floor_hypercorn --port 9000``. With ``--tuned-gc`` it runs
with minidiscord's garbage-collector settings, with ``--native`` on minidiscord's native
front end instead of hypercorn (the floor for ``--frontend native``).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import time
from collections.abc import Awaitable, Callable

import orjson
import trio

from minidiscord.asgi_io import (
    DIRECT_SEND,
    RECEIVE_HANDLER,
    SEND_MANY,
    Message,
    Receive,
    Scope,
    Send,
    respond,
)
from minidiscord.engine.directwrites import DirectWrites
from minidiscord.engine.outbox import Outbox
from minidiscord.engine.session import EngineConfig
from minidiscord.engine.websocket import write_outbox
from minidiscord.metrics import CONTENT_TYPE, Metrics

OPEN = (
    '0{"sid":"floor","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
)
SEND_EVENT = '"message:channel:send"'
# Our server's bounds on what one client may have queued (frames, bytes).
LIMITS = EngineConfig()


class Floor:
    """The app: every connection past its CONNECT is a member of the one room."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.writes = DirectWrites(self.metrics)
        # Each member's outbox, and the scope that ends its connection (a slow consumer).
        self.members: dict[Outbox, trio.CancelScope] = {}
        self.ids = itertools.count(1)

    async def run(self, serve: Callable[[], Awaitable[object]]) -> None:
        """Serve with ``serve`` while the rounds of direct writes run beside it."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.writes.run)
            await serve()
            nursery.cancel_scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                await send({"type": kind + ".complete"})
                if kind == "lifespan.shutdown":
                    return
        if scope["type"] == "http":
            if scope["path"] == "/metrics":
                await respond(send, 200, self.metrics.render(), content_type=CONTENT_TYPE)
            else:
                await respond(send, 200, "ok")
            return
        await receive()  # websocket.connect
        extensions = scope.get("extensions") or {}
        if SEND_MANY not in extensions:
            raise RuntimeError("the floor needs a front end that takes the engine's batches")
        direct = (extensions.get(DIRECT_SEND) or {}).get("send")
        hand_to = (extensions.get(RECEIVE_HANDLER) or {}).get("hand_to")
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": OPEN})
        outbox = Outbox(LIMITS.client_buffer, LIMITS.client_buffer_bytes)
        writes = self.writes if direct is not None else None
        try:
            if hand_to is not None:
                # As the engine does where the front end offers it: the front end's task
                # applies each message, and no task of the app reads.
                with trio.CancelScope() as connection:
                    await hand_to(functools.partial(self._take, outbox, connection))
                    try:
                        await write_outbox(outbox, send, True, direct, writes)
                    finally:
                        await hand_to(None)
            else:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._read, receive, outbox, nursery.cancel_scope)
                    await write_outbox(outbox, send, True, direct, writes)
                    nursery.cancel_scope.cancel()
        finally:
            self.members.pop(outbox, None)
            outbox.forget()

    async def _read(self, receive: Receive, outbox: Outbox, connection: trio.CancelScope) -> None:
        while not outbox.closed:
            await self._take(outbox, connection, await receive())

    async def _take(self, outbox: Outbox, connection: trio.CancelScope, message: Message) -> None:
        if outbox.closed:
            return
        if message["type"] == "websocket.disconnect":
            outbox.close(discard=True)
            return
        text = message.get("text") or ""
        if text.startswith("40"):
            self.members[outbox] = connection
            self._queue(outbox, f'40{{"sid":"floor{next(self.ids)}"}}')
        elif text.startswith("42"):
            self._handle_event(outbox, text)

    def _handle_event(self, outbox: Outbox, text: str) -> None:
        bracket = text.index("[")
        if not text.startswith(SEND_EVENT, bracket + 1):
            return
        _, channel, body = orjson.loads(text[bracket:])[:3]
        message_id = next(self.ids)
        stored = {
            "id": message_id,
            "userId": "u",
            "username": "floor",
            "timestamp": int(time.time() * 1000),
            "message": body,
        }
        self._broadcast("42" + orjson.dumps(["message:channel", channel, stored]).decode())
        if bracket > 2:
            ack = f"43{text[2:bracket]}" + orjson.dumps([{"ok": True, "id": message_id}]).decode()
            self._queue(outbox, ack)

    def _broadcast(self, frame: str) -> None:
        """One frame object for every member, in the next round of direct writes where its
        writer is idle (queued behind what it is writing otherwise)."""
        slow = [outbox for outbox in self.members if not outbox.put_direct(frame)]
        self.metrics.frames_delivered.inc(len(self.members))
        for outbox in slow:
            self._drop(outbox)

    def _queue(self, outbox: Outbox, frame: str) -> None:
        """A frame for one client (the CONNECT answer, an ack): its writer sends it."""
        if outbox.put(frame):
            self.metrics.frames_delivered.inc()
        else:
            self._drop(outbox)

    def _drop(self, outbox: Outbox) -> None:
        connection = self.members.pop(outbox, None)
        outbox.close(discard=True)
        if connection is not None:
            connection.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--tuned-gc",
        action="store_true",
        help="the garbage-collector settings minidiscord runs with (minidiscord/runtime.py)",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="serve with minidiscord's native front end (h11 + wsproto) instead of hypercorn",
    )
    args = parser.parse_args()
    if args.tuned_gc:
        from minidiscord.runtime import tune_garbage_collector

        tune_garbage_collector()
    floor = Floor()
    trio.run(functools.partial(floor.run, functools.partial(serve, floor, args.port, args.native)))


async def serve(
    floor: Floor,
    port: int,
    native: bool,
    shutdown_trigger: Callable[[], Awaitable[object]] = trio.sleep_forever,
) -> None:
    """Serve ``floor`` on 127.0.0.1:``port`` with our native front end or hypercorn until
    ``shutdown_trigger`` returns (run it under :meth:`Floor.run`)."""
    if native:
        from minidiscord.frontend import NativeServer

        await NativeServer(floor).serve("127.0.0.1", port, shutdown_trigger)
        return
    from hypercorn.config import Config
    from hypercorn.trio import serve as serve_hypercorn

    from minidiscord import hypercorn_sends

    # hypercorn's WebSockets take the engine's batches and direct sends and hand it each
    # message, as under our server.
    hypercorn_sends.install()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    await serve_hypercorn(floor, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
