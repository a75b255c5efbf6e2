"""The hypercorn floor: an app that does nothing but the chat broadcast, for comparison.

No engine, no Socket.IO layer, no store, no heartbeat: a websocket answers the Engine.IO
open and the Socket.IO CONNECT, and each `message:channel:send` is encoded once and put
into every connection's bounded queue, drained by that connection's writer task, the same
delivery design as minidiscord's. Whatever minidiscord costs above this is our engine;
what this costs is the host (hypercorn's trio worker). Used by
``python -m scripts.bench --target``.

Example: ``python -m scripts.floor_hypercorn --port 9000``. With ``--tuned-gc`` it runs
with minidiscord's garbage-collector settings, with ``--native`` on minidiscord's native
front end instead of hypercorn (the floor for ``--frontend native``).
"""

from __future__ import annotations

import argparse
import itertools
import time

import orjson
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from minidiscord.asgi_io import Receive, Scope, Send

OPEN = (
    '0{"sid":"floor","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
)


class Floor:
    def __init__(self) -> None:
        self.queues: set[trio.MemorySendChannel[str]] = set()
        self.ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                await send({"type": kind + ".complete"})
                if kind == "lifespan.shutdown":
                    return
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": OPEN})
        queue, frames = trio.open_memory_channel[str](1024)
        self.queues.add(queue)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, frames, send)
                await self._read(receive, queue)
                nursery.cancel_scope.cancel()
        finally:
            self.queues.discard(queue)

    async def _write(self, frames: trio.MemoryReceiveChannel[str], send: Send) -> None:
        async for frame in frames:
            while True:
                await send({"type": "websocket.send", "text": frame})
                try:
                    frame = frames.receive_nowait()
                except trio.WouldBlock:
                    break

    async def _read(self, receive: Receive, queue: trio.MemorySendChannel[str]) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text") or ""
            if text.startswith("40"):
                queue.send_nowait('40{"sid":"floor"}')
            elif text.startswith("42"):
                bracket = text.index("[")
                ack = text[2:bracket]
                _, channel, body = orjson.loads(text[bracket:])
                message_id = next(self.ids)
                stored = {
                    "id": message_id,
                    "userId": "u",
                    "username": "floor",
                    "timestamp": int(time.time() * 1000),
                    "message": body,
                }
                frame = "42" + orjson.dumps(["message:channel", channel, stored]).decode()
                for member in self.queues:
                    member.send_nowait(frame)
                if ack:
                    queue.send_nowait(
                        f"43{ack}" + orjson.dumps([{"ok": True, "id": message_id}]).decode()
                    )


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
    if args.native:
        from minidiscord.frontend import NativeServer

        trio.run(NativeServer(Floor()).serve, "127.0.0.1", args.port, trio.sleep_forever)
        return
    config = Config()
    config.bind = [f"127.0.0.1:{args.port}"]
    config.accesslog = None
    trio.run(serve, Floor(), config)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
