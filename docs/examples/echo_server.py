"""A Socket.IO server on its own: no chat, no web page, no settings object.

Clients connect to the "/echo" namespace with ``auth={"token": TOKEN, "name": ...}``;
anyone else is refused with a CONNECT_ERROR saying why. ``echo`` is acknowledged with its
own arguments; ``join`` puts the client in a room, and ``say`` reaches everyone else in it.

Run it under hypercorn, or on minidiscord's native trio front end::

    hypercorn --worker-class trio docs.examples.echo_server:app
    python -m docs.examples.echo_server --port 8000
"""

import argparse
import functools
import logging
from typing import Any

import trio

import minidiscord
from minidiscord.hypercorn_worker import serve_like_minidiscord
from minidiscord.sockets import ConnectionRefused, Socket, SocketServer

TOKEN = "let-me-in"

sio = SocketServer(ping_interval=25.0, ping_timeout=20.0, cors_allowed_origins="*")
echo = sio.of("/echo")


@echo.on("connect")
async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
    if not auth or auth.get("token") != TOKEN:
        raise ConnectionRefused("not authorized", {"hint": "connect with auth {token}"})
    socket.data["name"] = str(auth.get("name", "someone"))


@echo.on("echo")
async def echo_back(socket: Socket, *args: Any) -> tuple[Any, ...]:
    # What a handler returns is the acknowledgement, when the client asked for one.
    return args


@echo.on("join")
async def join(socket: Socket, room: str) -> str:
    socket.join(room)
    return f"{socket.data['name']} joined {room}"


@echo.on("say")
async def say(socket: Socket, room: str, text: str) -> None:
    socket.to(room).emit("said", socket.data["name"], text)


# The ASGI app: the SocketServer is one. Under hypercorn's own command, the line after
# gives it what the minidiscord command adds around hypercorn (its fixes, and clients
# closed cleanly on SIGTERM); it changes nothing for the native front end.
app = sio
serve_like_minidiscord(app)


def main() -> None:
    parser = argparse.ArgumentParser(description="A Socket.IO echo server on trio.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    trio.run(functools.partial(minidiscord.serve, app, host=args.host, port=args.port))


if __name__ == "__main__":
    main()
