"""Broadcast acks answered by node's socket.io-client 4.8 (the reference client) over
WebSocket, long-polling, and polling then upgrade (tests/node/broadcast_acks.mjs)."""

from typing import Any

import pytest
import trio

from tests.sockets.operators_app import operators_app
from tests.support.nodeclient import run_node
from tests.support.servers import ServerFactory
from tests.support.waiting import wait_until

pytestmark = pytest.mark.node


async def test_node_clients_answer_a_broadcast_with_ack(start_server: ServerFactory) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    done: list[list[Any]] = []

    async def run_clients() -> None:
        done.append(await run_node("broadcast_acks.mjs", server.url))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_clients)
            await wait_until(lambda: len(sio.of("/").rooms.get("team", ())) == 3, timeout=15)
            answers = await sio.to("team").timeout(5).emit_with_ack("question", 21)
            sio.emit("done")
    (lines,) = done
    assert [line["step"] for line in lines] == ["connected", "done"]
    assert sorted(answers) == ["polling: 42", "upgrade: 42", "websocket: 42"]
