"""python-socketio clients on three servers of one Redis adapter cluster: a broadcast with
binary arguments reaches every one of them whole, a broadcast with acks gathers every
client's answer across the servers, and fetch_sockets sees them all. Each client runs in a
worker thread (python-socketio's blocking client), so the in-process servers keep serving."""

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import socketio
import trio

from tests.redis.adapter_cluster import cluster, node_server
from tests.support.redisserver import RedisServer
from tests.support.waiting import wait_until

WAIT = 5.0


class PythonClient:
    """A python-socketio client that answers "question" with its name and keeps "blob"s."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = socketio.Client(reconnection=False)
        self.blobs: list[Any] = []
        self._lock = threading.Lock()
        self.client.on("question", self._question)
        self.client.on("blob", self._blob)

    def _question(self, text: str) -> str:
        return f"{self.name}: {text}"

    def _blob(self, *args: Any) -> None:
        with self._lock:
            self.blobs.append(list(args))

    def connect(self, url: str) -> None:
        self.client.connect(
            url,
            auth={"name": self.name, "rooms": ["all"]},
            transports=["websocket"],
            wait_timeout=WAIT,
        )


@asynccontextmanager
async def disconnecting(clients: list[PythonClient]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for client in clients:
            # Blocking: in a thread, while the servers go on serving here.
            await trio.to_thread.run_sync(client.client.disconnect)


async def test_python_socketio_clients_on_three_servers(redis: RedisServer) -> None:
    servers = [node_server(redis.url) for _ in range(3)]
    clients = [PythonClient(f"py{index}") for index in range(3)]
    async with cluster(servers) as running, disconnecting(clients):
        for client, server in zip(clients, running, strict=True):
            await trio.to_thread.run_sync(client.connect, server.url)

        payload = bytes(range(256))
        servers[1].to("all").emit("blob", payload, {"inner": payload[:3]})
        await wait_until(lambda: all(client.blobs for client in clients))
        for client in clients:
            assert client.blobs == [[payload, {"inner": b"\x00\x01\x02"}]]

        answers = await servers[0].to("all").timeout(WAIT).emit_with_ack("question", "hi")
        assert sorted(answers) == ["py0: hi", "py1: hi", "py2: hi"]

        fetched = await servers[2].fetch_sockets()
        assert sorted(socket.data["name"] for socket in fetched) == ["py0", "py1", "py2"]
