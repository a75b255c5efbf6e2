"""Where a socket's life meets the adapter: rooms joined in connect middlewares (before the
socket is in its namespace, so before its adapter knows it), and a socket whose
``disconnecting`` handler is running (still in its rooms, sent nothing). Real server, raw
WebSocket clients."""

import json
from typing import Any

from minidiscord.app import App
from minidiscord.sockets import ConnectionRefused, Socket
from tests.support.rawclient import raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory


async def test_rooms_joined_in_a_connect_middleware_are_the_adapters_once_connected(
    start_server: ServerFactory,
) -> None:
    app = App(TEST_SETTINGS)
    root = app.sio.of("/")
    seen: dict[str, Any] = {}

    @root.use
    async def place(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.join(["lobby", "vip"])
        socket.leave("vip")
        seen.setdefault("in middleware", socket.rooms)
        if auth and auth.get("refuse"):
            seen["refused"] = socket.id
            raise ConnectionRefused("not today")

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        seen["in connect"] = socket.rooms

    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client, raw_websocket(server.ws_url) as refused:
        sid = json.loads((await client.join())[2:])["sid"]
        assert seen["in middleware"] == {"lobby"}
        assert seen["in connect"] == {sid, "lobby"}
        assert root.sockets[sid].rooms == {sid, "lobby"}
        root.to("lobby").emit("hi")
        assert await client.text() == '42["hi"]'

        await refused.send('40{"refuse":true}')
        assert await refused.text() == '44{"message":"not today"}'
        # A refused socket leaves no trace in the adapter.
        assert set(root.rooms["lobby"]) == {sid}
        assert not root.adapter.socket_rooms(seen["refused"])

