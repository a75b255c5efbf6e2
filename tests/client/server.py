"""The server the client tests talk to: namespaces "/" and "/admin" with handlers for each
behaviour under test, recording what the server saw of its clients."""

from dataclasses import dataclass, field, replace
from typing import Any

import trio
import trio.lowlevel

from minidiscord.app import App
from minidiscord.sockets import ConnectionRefused, Socket
from tests.support.servers import TEST_SETTINGS


@dataclass
class Seen:
    """(namespace, socket id, auth, opening transport) per connect; (namespace, reason) per
    disconnect; what the server's questions were answered."""

    connects: list[tuple[str, str, Any, str]] = field(default_factory=list)
    disconnects: list[tuple[str, str]] = field(default_factory=list)
    answers: list[list[Any]] = field(default_factory=list)
    sockets: dict[str, Socket] = field(default_factory=dict)
    # The headers and query of the request that opened each connected socket's session.
    requests: list[tuple[dict[str, str], dict[str, str]]] = field(default_factory=list)


def make_app(seen: Seen, **overrides: Any) -> App:
    app = App(replace(TEST_SETTINGS, **overrides))
    root = app.sio.of("/")
    admin = app.sio.of("/admin")

    for namespace in (root, admin):

        @namespace.on("connect")
        async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
            if auth and auth.get("refuse"):
                raise ConnectionRefused("not welcome", data={"why": "asked"})
            name = socket.namespace.name
            seen.connects.append((name, socket.id, auth, socket.handshake.query["transport"]))
            seen.sockets[socket.id] = socket
            seen.requests.append((socket.handshake.headers, socket.handshake.query))
            socket.emit("hello", name, auth)

        @namespace.on("disconnect")
        async def disconnect(socket: Socket, reason: str) -> None:
            seen.disconnects.append((socket.namespace.name, str(reason)))

        @namespace.on("echo")
        async def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
            return (socket.namespace.name, *args)

    @root.on("shout")
    async def shout(socket: Socket, text: str, data: bytes) -> None:
        socket.emit("shouted", text.upper(), data[::-1])

    @root.on("kick-me")
    async def kick_me(socket: Socket) -> None:
        socket.disconnect()

    @root.on("ask")
    async def ask(socket: Socket) -> None:
        # A callback, not ``await socket.call``: the server reads a connection's packets in
        # order, so a handler awaiting that same client's ack would wait for itself.
        def answered(*answer: Any) -> None:
            seen.answers.append(list(answer))
            socket.emit("answered", *answer)

        socket.emit("question", "sure?", b"\x01\x02", callback=answered)

    @root.on("big")
    async def big(socket: Socket, size: int) -> None:
        socket.emit("big", "x" * size)

    @root.on("flood")
    async def flood(socket: Socket, count: int) -> None:
        for number in range(count):
            socket.emit("flood", number)
            await trio.lowlevel.checkpoint()

    # "silent" has no handler: the server never acknowledges it.
    return app
