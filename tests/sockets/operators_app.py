"""A bare Socket.IO app for the operator tests, and raw clients that join it with rooms."""

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any

import trio

from minidiscord.app import App
from minidiscord.sockets import Socket, SocketServer
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import TEST_SETTINGS, RunningApp, serve_any_app


def rooms_from_auth(sio: SocketServer) -> SocketServer:
    """``sio`` with a "/" that puts each client in the rooms its auth names (``{"rooms":
    [...], "name": ...}``) and keeps its name in ``socket.data``."""

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        auth = auth or {}
        socket.data["name"] = auth.get("name")
        socket.join(auth.get("rooms", []))

    return sio


def operators_app() -> App:
    """The test app with :func:`rooms_from_auth`'s "/"."""
    app = App(replace(TEST_SETTINGS))
    rooms_from_auth(app.sio)
    return app


@asynccontextmanager
async def served(sio: SocketServer) -> AsyncIterator[RunningApp]:
    """A standalone ``sio`` (its own adapter factory) with :func:`rooms_from_auth`'s "/",
    served on the suite's front end until the block ends."""
    async with trio.open_nursery() as nursery:
        server = await serve_any_app(nursery, rooms_from_auth(sio))
        try:
            yield server
        finally:
            server.shutdown.set()


async def join(client: RawWebSocket, name: str, *rooms: str) -> str:
    """Connect ``client`` to "/" as ``name`` in ``rooms``; its socket id."""
    answer = await client.join(json.dumps({"name": name, "rooms": list(rooms)}))
    sid: str = json.loads(answer[2:])["sid"]
    return sid


@asynccontextmanager
async def clients(
    ws_url: str, members: dict[str, tuple[str, ...]]
) -> AsyncIterator[dict[str, tuple[RawWebSocket, str]]]:
    """Raw WebSocket clients connected to "/", by name: each with its rooms; yields each
    name's client and socket id."""
    async with AsyncExitStack() as stack:
        joined: dict[str, tuple[RawWebSocket, str]] = {}
        for name, rooms in members.items():
            client = await stack.enter_async_context(raw_websocket(ws_url))
            joined[name] = (client, await join(client, name, *rooms))
        yield joined


async def events(client: RawWebSocket, until: str) -> list[Any]:
    """The events ``client`` receives up to and including the event named ``until``, as
    decoded ``[name, *args]`` lists."""
    seen: list[Any] = []
    while True:
        frame = await client.text()
        assert frame.startswith("42"), frame
        event = json.loads(frame[2:])
        seen.append(event)
        if event[0] == until:
            return seen
