"""One Socket.IO server as several processes, on one host or many, sharing one Redis.

Clients ``join`` a room, ``say`` something to it, and ask ``who`` is in it: whichever
process each of them is connected to, they reach one another. ``servers`` asks every
process for its name (a server-side emit with answers). A client whose connection drops
and comes back within two minutes, to any process, gets the events it missed.

Run as many as you like on one Redis (behind a load balancer with sticky sessions, or
WebSocket-only clients)::

    python -m docs.examples.redis_cluster --port 8001 --redis-url redis://127.0.0.1:6379/0
    python -m docs.examples.redis_cluster --port 8002 --redis-url redis://127.0.0.1:6379/0
"""

import argparse
import functools
import logging
from typing import Any

import trio

import minidiscord
from minidiscord.redis.adapter import RedisAdapter
from minidiscord.sockets import Recovery, Socket, SocketServer


def make_server(redis_url: str, name: str) -> SocketServer:
    sio = SocketServer(
        adapter=RedisAdapter.factory(redis_url, prefix="rooms-example"),
        connection_state_recovery=Recovery(max_disconnection_duration=120.0),
    )

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        if not socket.recovered:
            socket.data["name"] = str((auth or {}).get("name", "someone"))

    @sio.on("join")
    async def join(socket: Socket, room: str) -> str:
        socket.join(room)
        # To the room on every process.
        socket.to(room).emit("joined", socket.data["name"], name)
        return f"joined {room} on {name}"

    @sio.on("say")
    async def say(socket: Socket, room: str, text: str) -> None:
        socket.to(room).emit("said", socket.data["name"], text)

    @sio.on("who")
    async def who(socket: Socket, room: str) -> list[str]:
        # Every process's sockets in the room (each process answers within 5 s).
        return sorted(other.data["name"] for other in await sio.in_(room).fetch_sockets())

    @sio.on("servers")
    async def servers(socket: Socket) -> list[str]:
        return sorted([name, *await sio.server_side_emit_with_ack("name", timeout=5)])

    @sio.of("/").on_server_side("name")
    async def own_name() -> str:
        return name

    return sio


def main() -> None:
    parser = argparse.ArgumentParser(description="A Socket.IO server on several processes.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    app = make_server(args.redis_url, f"{args.host}:{args.port}")
    trio.run(functools.partial(minidiscord.serve, app, host=args.host, port=args.port))


if __name__ == "__main__":
    main()
