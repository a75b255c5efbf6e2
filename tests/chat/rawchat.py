"""The chat's events over a raw WebSocket (tests/support/rawclient.py): join, call with an
ack, and clients that come from an address of the test's choosing.

For hardening tests that check exact frames or must not be a full client; a test that just
needs a chat client uses tests/support/chatclient.py.
"""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.support.rawclient import RawWebSocket, raw_websocket

Ack = dict[str, Any]


def event_of(frame: str) -> tuple[str, list[Any]] | None:
    """(event, args) of a Socket.IO EVENT frame on `/` without an ack id, else None."""
    if not frame.startswith("42["):
        return None
    name, *args = json.loads(frame[2:])
    return name, args


async def join(client: RawWebSocket, auth: dict[str, Any]) -> dict[str, list[Any]]:
    """Connect to `/` with this auth; the greeting's events (session, channels, users)."""
    await client.send("40" + json.dumps(auth))
    greeting: dict[str, list[Any]] = {}
    while "users" not in greeting:
        frame = await client.text()
        assert not frame.startswith("44"), f"refused: {frame}"
        event = event_of(frame)
        if event is not None:
            greeting[event[0]] = event[1]
    return greeting


async def turned_away(client: RawWebSocket, auth: dict[str, Any]) -> str:
    """Connect without saying the client reads CONNECT_ERROR, expecting to be let in
    without joining; the System line every channel then holds."""
    await client.send("40" + json.dumps(auth))
    assert (await client.text()).startswith('40{"sid":')
    event = event_of(await client.text())
    assert event is not None
    assert event[0] == "channels", event
    channels = event[1][0]
    assert len(channels) == 5
    lines = {(m["username"], m["message"]) for channel in channels for m in channel["messages"]}
    assert len(lines) == 1, channels
    ((author, line),) = lines
    assert author == "System"
    assert isinstance(line, str)
    return line


async def join_refused(client: RawWebSocket, auth: dict[str, Any]) -> str:
    """Connect as a client that reads CONNECT_ERROR, expecting one; its message."""
    await client.send("40" + json.dumps({**auth, "connectErrors": True}))
    while True:
        frame = await client.text()
        assert not frame.startswith('42["users"'), "joined, expected a refusal"
        if frame.startswith("44"):
            message: str = json.loads(frame[2:])["message"]
            return message


async def call(client: RawWebSocket, ack_id: int, event: str, *args: Any) -> tuple[Ack, list[str]]:
    """Emit with an ack id; the ack and the frames that arrived before it."""
    await client.send(f"42{ack_id}" + json.dumps([event, *args]))
    before: list[str] = []
    while True:
        frame = await client.text()
        if frame.startswith(f"43{ack_id}["):
            ack: Ack = json.loads(frame[2 + len(str(ack_id)) :])[0]
            return ack, before
        before.append(frame)


async def wait_event(client: RawWebSocket, name: str) -> list[Any]:
    """The args of the next `name` event (others are skipped)."""
    while True:
        event = event_of(await client.text())
        if event is not None and event[0] == name:
            return event[1]


@asynccontextmanager
async def websocket_from(ws_url: str, address: str) -> AsyncIterator[RawWebSocket]:
    """A raw WebSocket client that a trusted proxy (loopback, trusted by default) says
    comes from ``address``."""
    headers = [(b"X-Forwarded-For", address.encode())]
    async with raw_websocket(ws_url, headers=headers) as client:
        yield client
