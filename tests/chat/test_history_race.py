"""A newcomer gets each message exactly once, as history or live, whatever the timing.

The connect snapshot is read from the store while messages are being stored and broadcast;
these tests stop the world at the two dangerous moments and check the newcomer's view.
"""

import json
from collections.abc import Sequence
from typing import Any

import trio

from minidiscord.app import App
from minidiscord.chat.models import Message, User
from minidiscord.chat.server import ChatServer
from minidiscord.chat.store import MemoryStore
from minidiscord.chat.store.base import Snapshot
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory


class GatedStore(MemoryStore):
    """A MemoryStore whose next snapshot, or next message, can be held half-way."""

    def __init__(self) -> None:
        super().__init__()
        self.hold_snapshot = False
        self.hold_message = False
        self.held = trio.Event()
        self.release = trio.Event()

    async def snapshot(self, channels: Sequence[str], limit: int, **users: Any) -> Snapshot:
        result = await super().snapshot(channels, limit, **users)
        if self.hold_snapshot and channels:
            self.hold_snapshot = False
            self.held.set()
            await self.release.wait()  # read already done: what is stored now is missing
        return result

    async def add_message(self, channel: str, user: User, text: str, timestamp: int) -> Message:
        message = await super().add_message(channel, user, text, timestamp)
        if self.hold_message:
            self.hold_message = False
            self.held.set()
            await self.release.wait()  # stored, not yet broadcast
        return message


async def _chat(start_server: ServerFactory) -> tuple[Any, GatedStore]:
    app = App(TEST_SETTINGS)
    store = GatedStore()
    chat = ChatServer(app.sio, store)
    server = await start_server(app)
    await chat.start()
    return server, store


async def _join(client: RawWebSocket, name: str) -> list[str]:
    await client.send("40" + json.dumps({"username": name}))
    frames = []
    while True:
        frame = await client.text()
        frames.append(frame)
        if frame.startswith('42["users"'):
            return frames


def _history(frames: list[str]) -> list[str]:
    channels = next(json.loads(f[2:])[1] for f in frames if f.startswith('42["channels"'))
    general = next(c for c in channels if c["name"] == "general")
    return [m["message"] for m in general["messages"]]


async def _live(client: RawWebSocket, until: str) -> list[str]:
    seen = []
    with trio.fail_after(5):
        while True:
            frame = await client.text()
            if frame.startswith('42["message:channel"'):
                seen.append(json.loads(frame[2:])[2]["message"])
                if seen[-1] == until:
                    return seen


async def test_message_broadcast_while_the_snapshot_was_read_is_in_history(
    start_server: ServerFactory,
) -> None:
    server, store = await _chat(start_server)
    async with raw_websocket(server.ws_url) as sender, trio.open_nursery() as nursery:
        await _join(sender, "sender")
        store.hold_snapshot = True
        frames: list[str] = []

        async def newcomer_joins() -> None:
            async with raw_websocket(server.ws_url) as newcomer:
                frames.extend(await _join(newcomer, "newcomer"))
                await sender.send('421["message:channel:send","general","marker"]')
                frames.extend(await _live(newcomer, "marker"))

        nursery.start_soon(newcomer_joins)
        await store.held.wait()
        # Stored and broadcast after the newcomer's read, before it joins the rooms.
        await sender.send('420["message:channel:send","general","in between"]')
        await _live(sender, "in between")
        store.release.set()
    assert _history(frames) == ["in between"]
    assert [f for f in frames if '"in between"' in f and "message:channel" in f] == []


async def test_message_stored_but_not_yet_broadcast_comes_once_live(
    start_server: ServerFactory,
) -> None:
    server, store = await _chat(start_server)
    async with raw_websocket(server.ws_url) as sender, raw_websocket(server.ws_url) as late:
        await _join(sender, "sender")
        store.hold_message = True
        await sender.send('420["message:channel:send","general","in flight"]')
        await store.held.wait()
        # The message is in the store, so in the snapshot, but not broadcast yet.
        frames = await _join(late, "late")
        store.release.set()
        live = await _live(late, "in flight")
    assert _history(frames) == []
    assert live == ["in flight"]
