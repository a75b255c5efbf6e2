"""Connection state recovery with real clients that implement its client half: node's
socket.io-client 4.8 (the reference client, unchanged) and our trio client. Each joins a
room, loses its transport, and gets back its id and the events broadcast meanwhile."""

from typing import Any

import pytest
import trio

from minidiscord.client import Client
from minidiscord.engine.reasons import CloseReason
from minidiscord.sockets import Socket, SocketServer
from tests.sockets.recovery_app import Seen, recovery_server
from tests.sockets.test_recovery import served
from tests.support.nodeclient import run_node
from tests.support.waiting import wait_until

# How much later than "before" the server answers "join": as a loaded server may put the
# acknowledgement in a later write. A client that cut its transport on "before" (as
# recovery.mjs once did) then lost the pending acknowledgement: node's emitWithAck rejected
# and the script died. With the lag that happens every run rather than under load.
ACK_LAG = 0.05


def blip_server(seen: Seen) -> SocketServer:
    """The recovery app, which on "join" sends "before" to the room and then (``ACK_LAG``
    later) acknowledges, and on a lost connection broadcasts "missed" 1 and 2 to the room
    (and "other" elsewhere) while the client is away."""
    sio = recovery_server(seen)

    @sio.on("join")
    async def join(socket: Socket, room: str) -> str:
        socket.join(room)
        socket.data["room"] = room
        sio.to(room).emit("before", 0)
        await trio.sleep(ACK_LAG)
        return "joined"

    @sio.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        seen.disconnects.append((socket.id, reason))
        room = socket.data.get("room")
        if room is not None and len(seen.disconnects) == 1:
            sio.to(room).emit("missed", 1)
            sio.to("elsewhere").emit("other", 9)
            sio.to(room).emit("missed", 2)

    return sio


@pytest.mark.node
@pytest.mark.parametrize("mode", ["websocket", "polling"])
async def test_node_socket_io_client_recovers_its_socket_and_missed_events(mode: str) -> None:
    seen = Seen()
    async with served(blip_server(seen)) as server:
        first, *rest = await run_node("recovery.mjs", server.url, mode)
    assert first["connect"] == 1
    assert first["recovered"] is False
    events = [line for line in rest if "event" in line]
    connects = [line for line in rest if "connect" in line]
    assert connects == [{"connect": 2, "id": first["id"], "recovered": True}]
    assert [(e["event"], e["args"][:-1]) for e in events] == [
        ("before", [0]),
        ("missed", [1]),
        ("missed", [2]),
    ]
    # Each kept event came with its offset last, a string, each its own.
    offsets = [e["args"][-1] for e in events]
    assert all(isinstance(offset, str) for offset in offsets)
    assert len(set(offsets)) == 3
    # The connect after the blip is the last thing before the missed events.
    assert rest.index(connects[0]) < rest.index(events[1])
    assert seen.disconnects[0] == (first["id"], "transport close")
    assert [recovered for _, recovered, _, _ in seen.connects] == [False, True]


@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
async def test_the_trio_client_recovers_its_socket_and_missed_events(
    transports: tuple[str, ...],
) -> None:
    seen = Seen()
    sio = blip_server(seen)
    client = Client(transports=transports, reconnection_delay=0.1, reconnection_delay_max=0.2)
    got: list[tuple[str, tuple[Any, ...]]] = []
    client.on_any(lambda event, *args: got.append((event, args)))
    async with served(sio) as server, client.connect(server.url) as socket:
        first_id = socket.id
        assert not socket.recovered
        assert await socket.call("join", "r", timeout=5) == ["joined"]
        await wait_until(lambda: len(got) == 1)
        sio.app.engine.sessions[socket.engine_sid or ""].close(
            CloseReason.TRANSPORT_CLOSE, flush=False
        )
        await wait_until(lambda: len(seen.connects) == 2 and socket.connected)
        await wait_until(lambda: len(got) == 3)
        assert socket.recovered
        assert socket.id == first_id
    assert [(event, args[:-1]) for event, args in got] == [
        ("before", (0,)),
        ("missed", (1,)),
        ("missed", (2,)),
    ]
    assert [recovered for _, recovered, _, _ in seen.connects] == [False, True]
