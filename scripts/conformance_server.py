"""Serves the reference configuration of the official Engine.IO and Socket.IO protocol test suites.

    python -m scripts.conformance_server socketio [--port 3000] [--frontend native]
    python -m scripts.conformance_server engineio [--port 3000] [--frontend native]

Each mode is what the "Test suite" section of its specification asks of a server: ping
interval 300 ms, ping timeout 200 ms, maxPayload 1000000, CORS "*". Socket.IO also has a
connect timeout of 1000 ms, emits "auth" with the handshake auth on connect, echoes
"message" as "message-back", acks "message-with-ack" with its own arguments, and serves a
"/custom" namespace. Engine.IO is a bare server at /engine.io/ that echoes every message,
text or binary, to its sender. Both are served on their own, without the chat's App around
them: the suites check the Socket.IO layer as anyone using it alone gets it, served as
:func:`minidiscord.serve` serves it, on hypercorn (the default) or on the native front end
(``--frontend native``). With ``--port 0`` the system picks a free port; the "listening on"
line printed once the socket is bound names it.
"""

import argparse
import functools
import signal
import sys
from typing import Any

import trio

from minidiscord import serve
from minidiscord.asgi_io import ASGIApp
from minidiscord.config import FRONTENDS, Frontend, parse_frontend
from minidiscord.engine import EngineApp, EngineConfig, EngineServer, EngineSession
from minidiscord.protocol import engineio
from minidiscord.sockets import Socket, SocketServer

# The reference configuration both suites ask for.
PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2
MAX_PAYLOAD = 1_000_000


def socketio_server() -> SocketServer:
    """The Socket.IO layer on its own, as the suite's reference server is configured."""
    sio = SocketServer(
        path="/socket.io",
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        max_http_buffer_size=MAX_PAYLOAD,
        cors_allowed_origins="*",
        connect_timeout=1.0,
    )
    # The reference server only emits "auth" on "/custom"; echoing there too lets our own
    # tests exercise events in a custom namespace, and no official test depends on silence.
    for name in ("/", "/custom"):
        namespace = sio.of(name)

        @namespace.on("connect")
        async def on_connect(socket: Socket, auth: dict[str, Any] | None) -> None:
            # JavaScript's socket.handshake.auth is {} when the client sent none.
            socket.emit("auth", {} if auth is None else auth)

        @namespace.on("message")
        async def on_message(socket: Socket, *args: Any) -> None:
            socket.emit("message-back", *args)

        @namespace.on("message-with-ack")
        async def on_message_with_ack(socket: Socket, *args: Any) -> tuple[Any, ...]:
            return args

    return sio


class Echo:
    """The Engine.IO reference behaviour: every message goes back to its sender as it came."""

    def __init__(self, session: EngineSession) -> None:
        self.session = session

    async def on_message(self, data: str | bytes) -> None:
        self.session.send_frame(engineio.message_frame(data))

    async def on_close(self, reason: str) -> None:
        pass

    def on_handshake_sent(self) -> None:
        pass

    def on_throttled(self, retry_after: float) -> None:
        pass  # Engine.IO has no message to tell it with: its packets are just dropped


def engineio_server() -> EngineApp:
    """A bare Engine.IO server at /engine.io/ that echoes, as an ASGI app."""
    config = EngineConfig(
        ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, max_payload=MAX_PAYLOAD
    )
    return EngineApp(EngineServer(config, Echo, allowed_origins=("*",)), path="/engine.io")


def build_app(mode: str) -> ASGIApp:
    return socketio_server() if mode == "socketio" else engineio_server()


async def until_signalled() -> None:
    """Ctrl-C or SIGTERM (how the tests stop the server) shuts it down cleanly."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


async def main(mode: str, host: str, port: int, frontend: Frontend = "hypercorn") -> None:
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(
                serve,
                build_app(mode),
                host=host,
                port=port,
                frontend=frontend,
                shutdown_trigger=until_signalled,
                shutdown_timeout=0.5,
            )
        )
        print(f"listening on {binds[0]}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("mode", choices=["socketio", "engineio"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument(
        "--frontend",
        choices=FRONTENDS,
        default="hypercorn",
        help="what serves HTTP and WebSocket (default: hypercorn)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    trio.run(main, args.mode, args.host, args.port, parse_frontend(args.frontend, "--frontend"))
