"""Serves the reference configuration of the official Engine.IO and Socket.IO protocol test suites.

    python -m scripts.conformance_server socketio [--port 3000]
    python -m scripts.conformance_server engineio [--port 3000]

Each mode is what the "Test suite" section of its specification asks of a server: ping
interval 300 ms, ping timeout 200 ms, maxPayload 1000000, CORS "*". Socket.IO also has a
connect timeout of 1000 ms, emits "auth" with the handshake auth on connect, echoes
"message" as "message-back", acks "message-with-ack" with its own arguments, and serves a
"/custom" namespace. Engine.IO is a bare server at /engine.io/ that echoes every message,
text or binary, to its sender. With ``--port 0`` the system picks a free port; the
"listening on" line printed once the socket is bound names it.
"""

import argparse
import functools
import signal
import sys
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from minidiscord import hostfixes
from minidiscord.app import App
from minidiscord.config import Settings
from minidiscord.engine import EngineConfig, EngineServer, EngineSession
from minidiscord.protocol import engineio
from minidiscord.sockets import Socket, SocketServer


def reference_settings(mode: str, host: str, port: int) -> Settings:
    return Settings(
        host=host,
        port=port,
        cors_origins=("*",),
        socketio_path="/socket.io/" if mode == "socketio" else "/engine.io/",
        ping_interval=0.3,
        ping_timeout=0.2,
        max_payload=1_000_000,
        connect_timeout=1.0,
        # The suites open sessions back to back from one address, faster than people do.
        ip_connect_rate=None,
        ip_max_sessions=None,
    )


def socketio_server(settings: Settings) -> SocketServer:
    sio = SocketServer(connect_timeout=settings.connect_timeout)
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


class EngineIOApp(App):
    """The app's routing, lifespan and host fixes around a bare, echoing Engine.IO server."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.engine = EngineServer(
            EngineConfig(
                ping_interval=settings.ping_interval,
                ping_timeout=settings.ping_timeout,
                max_payload=settings.max_payload,
                client_buffer=settings.client_buffer,
            ),
            Echo,
            allowed_origins=settings.cors_origins,
        )


def build_app(settings: Settings) -> App:
    if settings.socketio_path == "/socket.io/":
        return App(settings, sio=socketio_server(settings))
    return EngineIOApp(settings)


async def until_signalled() -> None:
    """Ctrl-C or SIGTERM (how the tests stop the server) shuts it down cleanly."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


async def main(mode: str, host: str, port: int) -> None:
    settings = reference_settings(mode, host, port)
    # hypercorn hosts the app here: it gets the adjustments it gets under minidiscord.
    hostfixes.install()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 0.5
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(serve, shutdown_trigger=until_signalled), build_app(settings), config
        )
        print(f"listening on {binds[0]}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("mode", choices=["socketio", "engineio"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    trio.run(main, args.mode, args.host, args.port)
