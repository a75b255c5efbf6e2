"""A client's next GET, sent the moment its previous poll's answer arrives, is a new poll,
not an overlapping one, whichever connection carries it.

python-engineio's asyncio client does exactly that (its pooled connections take turns), and
writing an answer yields: the next GET could be served before the task that wrote the
answer resumed, and was refused as "a second GET while one was pending", ending a healthy
session. Many such clients at once make that interleaving all but certain.
"""

import asyncio
from typing import Any

import socketio
import trio

from minidiscord.sockets import Socket, SocketServer
from tests.support.servers import serve_any_app

CLIENTS = 8
ROUNDS = 6


def echo_app() -> SocketServer:
    sio = SocketServer(
        ping_interval=5.0, ping_timeout=5.0, ip_connect_rate=None, ip_max_sessions=None
    )

    @sio.on("echo")
    async def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    return sio


def _python_clients(url: str) -> list[str]:
    """What went wrong for each of CLIENTS polling clients making ROUNDS calls."""

    async def one(index: int) -> None:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=["polling"], wait_timeout=10)
        try:
            for round_ in range(ROUNDS):
                assert await client.call("echo", (index, round_), timeout=10) == (index, round_)
        finally:
            await client.disconnect()

    async def main() -> list[str]:
        results = await asyncio.gather(*(one(i) for i in range(CLIENTS)), return_exceptions=True)
        return [repr(result) for result in results if result is not None]

    return asyncio.run(main())


async def test_polls_answered_one_after_another_are_never_overlapping(
    nursery: trio.Nursery,
) -> None:
    app = echo_app()
    server = await serve_any_app(nursery, app)
    with trio.fail_after(60):
        failures = await trio.to_thread.run_sync(_python_clients, server.url)
    assert failures == []
    server.shutdown.set()
