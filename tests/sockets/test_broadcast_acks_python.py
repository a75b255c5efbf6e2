"""Broadcast acks answered by an independent peer: python-socketio's asyncio client (two of
them, in a thread beside the trio server); a raw client that never answers makes the timeout.

Over WebSocket only: python-engineio's asyncio client over long-polling sometimes sends a
second GET while its first is pending, which this server refuses as the reference does.
"""

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import socketio
import trio

from minidiscord.sockets import BroadcastAckTimeout, SocketServer
from tests.sockets.operators_app import join, operators_app
from tests.support.rawclient import raw_websocket
from tests.support.servers import ServerFactory
from tests.support.waiting import wait_until

PEERS = ("peer-1", "peer-2")


def _run_peers(url: str, connected: threading.Event, finish: threading.Event) -> None:
    """Connect every peer to the "team" room, answer questions until ``finish``."""

    async def main() -> None:
        peers: list[socketio.AsyncClient] = []
        try:
            for name in PEERS:
                client = socketio.AsyncClient(reconnection=False)

                async def question(number: int, name: str = name) -> str:
                    return f"{name}: {number * 2}"

                client.on("question", question)
                await client.connect(
                    url,
                    auth={"name": name, "rooms": ["team"]},
                    transports=["websocket"],
                    wait_timeout=5,
                )
                peers.append(client)
            connected.set()
            await asyncio.get_running_loop().run_in_executor(None, finish.wait)
        finally:
            for client in peers:
                await client.disconnect()

    asyncio.run(main())


@asynccontextmanager
async def python_peers(url: str, sio: SocketServer) -> AsyncIterator[None]:
    """The peers, connected and in "team", for the duration of the block."""
    connected, finish = threading.Event(), threading.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(trio.to_thread.run_sync, _run_peers, url, connected, finish))
        try:
            await wait_until(connected.is_set, timeout=10)
            await wait_until(lambda: len(sio.of("/").rooms.get("team", ())) == len(PEERS))
            yield
        finally:
            finish.set()


async def test_every_python_client_answers_a_broadcast_with_ack(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    async with python_peers(server.url, sio):
        answers = await sio.to("team").timeout(5).emit_with_ack("question", 21)
    assert sorted(answers) == ["peer-1: 42", "peer-2: 42"]


async def test_a_client_that_does_not_answer_makes_the_broadcast_time_out(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    async with python_peers(server.url, sio), raw_websocket(server.ws_url) as silent:
        await join(silent, "silent", "team")
        with pytest.raises(BroadcastAckTimeout) as caught:
            await sio.in_("team").timeout(1.5).emit_with_ack("question", 5)
        asked = await silent.text()
        assert asked.endswith('["question",5]')
    error: Any = caught.value
    assert error.missing == 1
    assert sorted(error.responses) == ["peer-1: 10", "peer-2: 10"]
    assert "1 of 3 clients did not acknowledge 'question'" in str(error)
