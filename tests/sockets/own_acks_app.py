"""A standalone SocketServer whose handlers await acknowledgements from their own client."""

from dataclasses import dataclass, field
from typing import Any

import trio

from minidiscord.sockets import Socket, SocketServer

# Short enough that a test of the old behaviour (the ack never read) fails quickly.
ACK_TIMEOUT = 3.0


@dataclass
class OwnAcksApp:
    """The server and what its handlers saw, in the order they saw it."""

    sio: SocketServer
    log: list[Any] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    release: trio.Event = field(default_factory=trio.Event)


def own_acks_app() -> OwnAcksApp:
    """``ask-me n``: asks its own client to ``double`` n and answers with that; ``ask-all n``:
    asks every client (its own included) and answers with the sorted answers; ``note x``:
    logs x; ``hold``: waits until the test releases it. Disconnect reasons go to ``left``."""
    app = OwnAcksApp(SocketServer())
    sio = app.sio

    @sio.on("ask-me")
    async def ask_me(socket: Socket, number: int) -> Any:
        app.log.append("ask-me:start")
        answer = await socket.call("double", number, timeout=ACK_TIMEOUT)
        app.log.append("ask-me:end")
        return answer[0]

    @sio.on("ask-all")
    async def ask_all(socket: Socket, number: int) -> Any:
        answers = await sio.timeout(ACK_TIMEOUT).emit_with_ack("double", number)
        return sorted(answers)

    @sio.on("note")
    async def note(socket: Socket, value: Any) -> None:
        app.log.append(value)

    @sio.on("hold")
    async def hold(socket: Socket) -> None:
        app.log.append("hold")
        await app.release.wait()

    @sio.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        app.left.append(reason)

    return app
