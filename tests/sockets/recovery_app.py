"""A SocketServer with connection state recovery on, for the recovery tests: clients join
rooms by event, and the test broadcasts, cuts connections and looks at the sockets."""

from dataclasses import dataclass, field
from typing import Any

from minidiscord.sockets import Recovery, Socket, SocketServer


@dataclass
class Seen:
    """What the server saw: each connect (sid, recovered, rooms, data) and middleware run."""

    connects: list[tuple[str, bool, frozenset[str], dict[str, Any]]] = field(default_factory=list)
    middleware_runs: int = 0
    disconnects: list[tuple[str, str]] = field(default_factory=list)
    sockets: dict[str, Socket] = field(default_factory=dict)


WINDOW = Recovery(max_disconnection_duration=60.0)


def recovery_server(seen: Seen, recovery: Recovery | None = WINDOW) -> SocketServer:
    sio = SocketServer(connection_state_recovery=recovery, ping_interval=1.0, ping_timeout=1.0)

    @sio.use
    async def count(socket: Socket, auth: dict[str, Any] | None) -> None:
        seen.middleware_runs += 1
        socket.data.setdefault("first_auth", auth)

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        seen.connects.append((socket.id, socket.recovered, socket.rooms, dict(socket.data)))
        seen.sockets[socket.id] = socket

    @sio.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        seen.disconnects.append((socket.id, reason))

    @sio.on("join")
    async def join(socket: Socket, room: str) -> str:
        socket.join(room)
        socket.data["joined"] = room
        return "joined"

    return sio
