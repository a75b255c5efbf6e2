"""Independent clients against the server API extensions: node's socket.io-client 4.8
(tests/node/extensions.mjs) and python-socketio's AsyncClient see a connect middleware's
refusal with its message and data, catch-all listeners observe their events, and dynamic
namespaces are created for them, broadcast to as one, and refused when nothing matches."""

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
import trio

from minidiscord.app import App
from minidiscord.sockets import ConnectionRefused, Socket
from tests.support.nodeclient import by_step, run_node
from tests.support.servers import TEST_SETTINGS, ServerFactory

WAIT = 5.0


@dataclass
class Seen:
    incoming: list[list[Any]] = field(default_factory=list)
    outgoing: list[list[Any]] = field(default_factory=list)


def extensions_app() -> tuple[App, Seen]:
    app = App(TEST_SETTINGS)
    seen = Seen()
    guarded = app.sio.of("/guarded")

    @guarded.use
    async def token(socket: Socket, auth: dict[str, Any] | None) -> None:
        if not auth or auth.get("token") != "open sesame":
            raise ConnectionRefused("not allowed", data={"reason": "bad token", "code": 4001})

    @guarded.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.on_any(lambda event, *args: seen.incoming.append([event, *args]))
        socket.on_any_outgoing(lambda event, *args: seen.outgoing.append([event, *args]))

    @guarded.on("ping")
    async def ping(socket: Socket, *args: Any) -> str:
        guarded.emit("news", "flash")
        return "pong"

    rooms = app.sio.of(re.compile(r"^/room-\d+$"))

    @rooms.on("connect")
    async def room_connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.emit("welcome", socket.namespace.name)

    @rooms.on("shout")
    async def shout(socket: Socket, text: str) -> None:
        rooms.emit("shouted", text, socket.namespace.name)

    return app, seen


@pytest.mark.node
async def test_node_client(start_server: ServerFactory) -> None:
    app, seen = extensions_app()
    server = await start_server(app)
    steps = by_step(await run_node("extensions.mjs", server.url))

    assert steps["refused"]["message"] == "not allowed"
    assert steps["refused"]["data"] == {"reason": "bad token", "code": 4001}
    assert steps["pong"]["pong"] == "pong"
    assert steps["pong"]["news"] == ["flash"]
    assert seen.incoming == [["ping", 1, {"two": 2}]]
    assert seen.outgoing == [["news", "flash"]]
    assert steps["dynamic"]["welcome"] == "/room-42"
    assert steps["dynamic"]["shouted"] == [
        ["to every room", "/room-42"],
        ["to every room", "/room-42"],
    ]
    assert {"/room-42", "/room-7"} <= set(app.sio.namespaces)
    assert steps["invalid"]["message"] == "Invalid namespace"


async def python_scenario(url: str) -> dict[str, Any]:
    """What python-socketio's AsyncClient sees of the same exchanges as the node script."""
    out: dict[str, Any] = {}
    loop = asyncio.get_running_loop()

    refused = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    refused.on("connect_error", errors.append, namespace="/guarded")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(
            url,
            namespaces=["/guarded"],
            auth={"token": "wrong"},
            transports=["websocket"],
            wait_timeout=WAIT,
        )
    await refused.disconnect()
    out["refused"] = errors

    guarded = socketio.AsyncClient(reconnection=False)
    news: asyncio.Future[list[Any]] = loop.create_future()
    guarded.on("news", lambda *args: news.set_result(list(args)), namespace="/guarded")
    await guarded.connect(
        url,
        namespaces=["/guarded"],
        auth={"token": "open sesame"},
        transports=["websocket"],
        wait_timeout=WAIT,
    )
    out["pong"] = await guarded.call("ping", (1, {"two": 2}), namespace="/guarded", timeout=WAIT)
    out["news"] = await asyncio.wait_for(news, WAIT)
    await guarded.disconnect()

    rooms = socketio.AsyncClient(reconnection=False)
    welcomes: dict[str, asyncio.Future[Any]] = {}
    shouts: dict[str, asyncio.Future[list[Any]]] = {}
    for name in ("/room-42", "/room-7"):
        welcomes[name] = welcome = loop.create_future()
        shouts[name] = shouted = loop.create_future()
        rooms.on("welcome", welcome.set_result, namespace=name)
        rooms.on("shouted", lambda *args, f=shouted: f.set_result(list(args)), namespace=name)
    await rooms.connect(url, namespaces=list(welcomes), transports=["websocket"], wait_timeout=WAIT)
    out["welcome"] = {name: await asyncio.wait_for(f, WAIT) for name, f in welcomes.items()}
    await rooms.emit("shout", "to every room", namespace="/room-7")
    out["shouted"] = {name: await asyncio.wait_for(f, WAIT) for name, f in shouts.items()}
    await rooms.disconnect()

    nowhere = socketio.AsyncClient(reconnection=False)
    invalid: list[Any] = []
    nowhere.on("connect_error", invalid.append, namespace="/nowhere")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await nowhere.connect(
            url, namespaces=["/nowhere"], transports=["websocket"], wait_timeout=WAIT
        )
    await nowhere.disconnect()
    out["invalid"] = invalid
    return out


async def test_python_async_client(start_server: ServerFactory) -> None:
    app, seen = extensions_app()
    server = await start_server(app)
    with trio.fail_after(30):
        # python-socketio's AsyncClient runs on asyncio: its own loop, in a worker thread,
        # while trio serves in this one.
        out = await trio.to_thread.run_sync(lambda: asyncio.run(python_scenario(server.url)))

    assert out["refused"] == [
        {"message": "not allowed", "data": {"reason": "bad token", "code": 4001}}
    ]
    assert out["pong"] == "pong"
    assert out["news"] == ["flash"]
    assert seen.incoming == [["ping", 1, {"two": 2}]]
    assert seen.outgoing == [["news", "flash"]]
    assert out["welcome"] == {"/room-42": "/room-42", "/room-7": "/room-7"}
    assert out["shouted"] == {
        "/room-42": ["to every room", "/room-7"],
        "/room-7": ["to every room", "/room-7"],
    }
    assert out["invalid"] == [{"message": "Invalid namespace"}]
