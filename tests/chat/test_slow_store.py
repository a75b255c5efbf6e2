"""Broadcast order holds with a store whose calls yield and finish out of order."""

import random
from typing import Any

import trio

from minidiscord.app import App
from minidiscord.chat.models import Message, User
from minidiscord.chat.server import ChatServer
from minidiscord.chat.store import MemoryStore
from minidiscord.config import Settings
from tests.support.chatclient import ChatClient


class ShufflingStore(MemoryStore):
    """Numbers each message when called, then yields a random number of times before
    returning, as a database store awaiting a grouped commit would: later messages often
    come back first."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self._random = random.Random(seed)

    async def add_message(self, channel: str, user: User, text: str, timestamp: int) -> Message:
        message = await super().add_message(channel, user, text, timestamp)
        # Uncancellable once called, as the Store contract has every backend's writes.
        with trio.CancelScope(shield=True):
            for _ in range(self._random.randrange(0, 20)):
                await trio.lowlevel.checkpoint()
        return message

    async def recent_messages(self, channel: str, limit: int) -> list[Message]:
        await trio.lowlevel.checkpoint()
        return await super().recent_messages(channel, limit)


async def test_messages_are_broadcast_in_store_order(
    start_server: Any, nursery: trio.Nursery
) -> None:
    app = App(Settings(host="127.0.0.1", port=0, recovery_window=0.0))
    ChatServer(app.sio, ShufflingStore(seed=3))
    server = await start_server(app)
    senders = [ChatClient(server.url, f"s{n}", nursery=nursery) for n in range(3)]
    watcher = ChatClient(server.url, "watcher", nursery=nursery)
    per_sender = 20
    try:
        for client in (*senders, watcher):
            await client.connect({"username": client.name})

        async def burst(client: ChatClient) -> None:
            for n in range(per_sender):
                await client.emit("message:channel:send", "general", f"{client.name} {n}")

        async with trio.open_nursery() as nursery:
            for client in senders:
                nursery.start_soon(burst, client)
        total = per_sender * len(senders)
        for client in (*senders, watcher):
            await client.wait_for("message:channel", count=total)
        ids = [m["id"] for m in watcher.messages("general")]
        assert ids == sorted(ids)
        assert len(set(ids)) == total
        for client in senders:
            assert [m["id"] for m in client.messages("general")] == ids
    finally:
        for client in (*senders, watcher):
            await client.close()
