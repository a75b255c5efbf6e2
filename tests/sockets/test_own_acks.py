"""A handler may await an acknowledgement from its own client: the ACK is applied as soon
as it is read, while EVENT, CONNECT and DISCONNECT still take turns in arrival order, and a
client that sends faster than its handlers finish is held at a small bounded queue.

Answered by python-socketio's asyncio client (in a thread beside the trio server), node's
socket.io-client 4.8 (tests/node/own_acks.mjs), the trio client ``minidiscord.client``,
and raw frames where the order on the wire is the point.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import socketio
import trio

from minidiscord.client import connect
from minidiscord.sockets.client import Client
from minidiscord.sockets.inbox import INBOX_PACKETS, LINGER
from tests.sockets.own_acks_app import OwnAcksApp, own_acks_app
from tests.support.nodeclient import run_node
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import RunningApp, serve_any_app
from tests.support.waiting import wait_until


@asynccontextmanager
async def served(app: OwnAcksApp) -> AsyncIterator[RunningApp]:
    async with trio.open_nursery() as nursery:
        server = await serve_any_app(nursery, app.sio)
        try:
            yield server
        finally:
            app.release.set()
            server.shutdown.set()


def _python_client(url: str, transport: str) -> tuple[Any, Any]:
    """python-socketio asks "ask-me" then "ask-all", answering "double" itself."""

    async def main() -> tuple[Any, Any]:
        client = socketio.AsyncClient(reconnection=False)

        async def double(number: int) -> int:
            return number * 2

        client.on("double", double)
        await client.connect(url, transports=[transport], wait_timeout=5)
        try:
            mine = await client.call("ask-me", 21, timeout=10)
            everyone = await client.call("ask-all", 5, timeout=10)
        finally:
            await client.disconnect()
        return mine, everyone

    return asyncio.run(main())


async def test_a_python_client_answers_its_own_handlers_call() -> None:
    # Over WebSocket only: python-engineio's asyncio client over long-polling sometimes
    # sends a second GET while its first is pending, which this server refuses as the
    # reference does (node's client covers long-polling).
    app = own_acks_app()
    async with served(app) as server:
        mine, everyone = await trio.to_thread.run_sync(
            partial(_python_client, server.url, "websocket")
        )
    assert mine == 42
    assert everyone == [10]


async def test_the_trio_client_answers_its_own_handlers_call() -> None:
    app = own_acks_app()
    async with served(app) as server, connect(server.url, reconnection=False) as sio:
        sio.on("double", lambda number: number * 2)
        with trio.fail_after(10):
            assert await sio.call("ask-me", 21) == [42]
            assert await sio.call("ask-all", 5) == [[10]]


@pytest.mark.node
async def test_a_node_client_answers_its_own_handlers_call() -> None:
    app = own_acks_app()
    async with served(app) as server:
        reports = await run_node("own_acks.mjs", server.url, timeout=40)
    answered = {r["transport"]: (r["mine"], r["all"]) for r in reports if r["step"] == "answered"}
    assert answered == {"websocket": (42, [10]), "polling": (42, [10])}


async def _connected(client: RawWebSocket) -> None:
    await client.send("40")
    assert (await client.text()).startswith("40{")


def _server_client(app: OwnAcksApp) -> Client:
    (socket,) = app.sio.of("/").sockets.values()
    return socket.client


async def test_later_events_wait_their_turn_while_a_handler_awaits_an_ack() -> None:
    app = own_acks_app()
    async with served(app) as server, raw_websocket(server.ws_url) as client:
        await _connected(client)
        # Sent together: the notes arrive while "ask-me" waits for this client's answer.
        await client.send('420["ask-me",21]')
        for number in range(10):
            await client.send(f'42["note",{number}]')
        with trio.fail_after(10):
            call = await client.text()
            assert call.startswith("42"), call
            assert call.endswith('["double",21]'), call
            ack_id = call[2 : call.index("[")]
            await client.send(f"43{ack_id}[42]")
            assert await client.text() == "430[42]"
            await wait_until(lambda: len(app.log) == 12)
            # Done and quiet: the worker ends, an idle connection holds no task.
            inbox = _server_client(app)._inbox
            await wait_until(lambda: not inbox.busy, timeout=LINGER + 5)
    assert app.log == ["ask-me:start", "ask-me:end", *range(10)]


async def test_what_came_before_a_close_is_applied_in_order() -> None:
    # The worker is not cut short by the close: the note waiting behind "hold" is handled,
    # then the DISCONNECT, with the client's own reason (not the transport's).
    app = own_acks_app()
    async with served(app) as server:
        async with raw_websocket(server.ws_url) as client:
            await _connected(client)
            await client.send('42["hold"]')
            await client.send('42["note","before the close"]')
            await client.send("41")
            server_client = _server_client(app)
            await wait_until(lambda: len(server_client._inbox) == 2)
        # The connection is closed (its close handler began) while "hold" still runs.
        await wait_until(lambda: server_client._closed, timeout=10)
        assert app.log == ["hold"]
        app.release.set()
        await wait_until(lambda: app.left == ["client namespace disconnect"])
    assert app.log == ["hold", "before the close"]


@pytest.mark.parametrize(
    ("note_bytes", "held"),
    # Small events: held up to the packet bound; large ones: up to the byte bound
    # (three of 300 kB fit in the default 1 MB max payload, a fourth does not).
    [(10, INBOX_PACKETS), (300_000, 3)],
)
async def test_a_flood_behind_a_busy_handler_is_held_to_a_bounded_queue(
    note_bytes: int, held: int
) -> None:
    app = own_acks_app()
    notes = 100
    async with (
        served(app) as server,
        raw_websocket(server.ws_url) as client,
        trio.open_nursery() as nursery,
    ):
        await _connected(client)
        await client.send('42["hold"]')
        sent = 0

        async def flood() -> None:
            nonlocal sent
            for number in range(notes):
                await client.send(f'42["note","{number:0{note_bytes}d}"]')
                sent += 1

        nursery.start_soon(flood)
        await wait_until(lambda: bool(app.sio.of("/").sockets) and app.log == ["hold"])
        inbox = _server_client(app)._inbox
        await wait_until(lambda: len(inbox) == held, timeout=10)
        # The reader waits for room: what it holds is bounded, the rest stays with the client.
        assert app.log == ["hold"]
        assert len(inbox) == held
        app.release.set()
        await wait_until(lambda: len(app.log) == notes + 1, timeout=20)
    assert app.log == ["hold", *(f"{number:0{note_bytes}d}" for number in range(notes))]
    assert sent == notes
