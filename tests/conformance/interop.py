"""The "/interop" namespace that independent clients (node's socket.io-client, python-socketio)
talk to in the interop tests, and what the server saw of them."""

import base64
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing

from minidiscord.sockets import ConnectionRefused, Socket, SocketServer

NAMESPACE = "/interop"
TOKEN = "secret"
SHOUT_BYTES = b"\x00\xffbin"
QUESTION = "ping"


@dataclass
class Seen:
    """What the server observed; the tests compare it with what the client reports."""

    connected: list[str] = field(default_factory=list)
    answers: list[list[Any]] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)
    disconnected: trio.Event = field(default_factory=trio.Event)

    async def wait_for_disconnect(self) -> None:
        with trio.fail_after(5):
            await self.disconnected.wait()
        # Exactly once: a second call would come from a server task already scheduled, so
        # once every task of this process (the server's) is idle, it would have come.
        await trio.testing.wait_all_tasks_blocked(cushion=0.01)


def install(sio: SocketServer) -> Seen:
    """Register the namespace's handlers (before any client connects)."""
    seen = Seen()
    namespace = sio.of(NAMESPACE)

    @namespace.on("connect")
    async def on_connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        if not isinstance(auth, dict) or auth.get("token") != TOKEN:
            raise ConnectionRefused("bad token", data={"hint": "use the secret"})
        seen.connected.append(socket.id)
        socket.emit("welcome", {"id": socket.id, "name": auth.get("name")})

        # Server to client with an ack: the client's answer (binary included) comes back
        # to the server, which reports it to the client as an "answer" event.
        def answered(*args: Any) -> None:
            seen.answers.append(list(args))
            socket.emit("answer", *args)

        socket.emit("question", QUESTION, callback=answered)

    @namespace.on("echo")
    async def on_echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @namespace.on("shout")
    async def on_shout(socket: Socket, *args: Any) -> None:
        text = args[0] if args and isinstance(args[0], str) else ""
        socket.emit("shouted", text.upper(), SHOUT_BYTES)

    @namespace.on("disconnect")
    async def on_disconnect(socket: Socket, reason: str) -> None:
        seen.disconnects.append(reason)
        seen.disconnected.set()

    return seen


def b64(data: bytes) -> dict[str, str]:
    """How the node driver prints a binary value."""
    return {"$bin": base64.b64encode(data).decode()}
