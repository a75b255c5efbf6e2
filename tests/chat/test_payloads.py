"""The `users` and `channels` payloads of a connect are encoded once per change, and read
by clients exactly as the plain lists would be."""

import json
from collections.abc import Mapping
from typing import Any

import pytest
import trio

from minidiscord.app import App
from minidiscord.chat.models import CHANNELS, Message, User
from minidiscord.chat.payloads import ChannelsPayload, UsersPayload
from minidiscord.chat.server import ChatServer
from minidiscord.chat.store import MemoryStore
from minidiscord.protocol import jsoncodec
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory


def _plain_users(users: list[User], online: Mapping[str, User]) -> str:
    return jsoncodec.dumps([u.presence_wire(connected=u.user_id in online) for u in users])


def test_a_users_list_reads_as_the_plain_list_and_encodes_each_entry_once_per_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[tuple[str, bool]] = []
    wire = User.presence_wire

    def counted(self: User, *, connected: bool) -> dict[str, Any]:
        made.append((self.user_id, connected))
        return wire(self, connected=connected)

    payload = UsersPayload()
    users = [User(f"u{n}", f"user {n}é", seq=n) for n in range(5)]
    online = {u.user_id: u for u in users[:3]}
    monkeypatch.setattr(User, "presence_wire", counted)
    first = payload.encode(users, online)
    assert len(made) == 5
    assert payload.encode(users, online).json == first.json
    assert len(made) == 5  # nothing changed: nothing encoded
    del online["u1"]
    renamed = User("u4", "renamed", seq=4)
    changed = [*users[:4], renamed]
    second = payload.encode(changed, online)
    assert made[5:] == [("u1", False), ("u4", False)]
    monkeypatch.setattr(User, "presence_wire", wire)
    assert first.json.decode() == _plain_users(users, {u: users[0] for u in ("u0", "u1", "u2")})
    assert second.json.decode() == _plain_users(changed, online)
    assert payload.encode([], {}).json == b"[]"


def test_the_channels_payload_is_made_again_only_when_its_inputs_change() -> None:
    made: list[int] = []
    message = Message(id=3, channel="general", user_id="u", username="n", timestamp=1, message="hi")

    def history() -> dict[str, list[Message]]:
        made.append(1)
        return {name: [message] if name == "general" else [] for name in CHANNELS}

    payload = ChannelsPayload()
    read: dict[str, list[Message]] = {}
    first = payload.encode(history, read=read, last_id=3, visible=3)
    assert payload.encode(history, read=read, last_id=3, visible=3) is first
    assert len(made) == 1
    # Equal, yet another read: its history may differ by the recent broadcasts.
    payload.encode(history, read={}, last_id=3, visible=3)
    payload.encode(history, read=read, last_id=3, visible=4)
    payload.forget()
    payload.encode(history, read=read, last_id=3, visible=4)
    assert len(made) == 4
    expected = [
        {"name": n, "messages": [message.wire()] if n == "general" else []} for n in CHANNELS
    ]
    assert jsoncodec.loads(first.json) == expected


async def _join(client: RawWebSocket, name: str) -> dict[str, str]:
    await client.send("40" + json.dumps({"username": name}))
    frames: dict[str, str] = {}
    with trio.fail_after(10):
        while "users" not in frames:
            frame = await client.text()
            if frame.startswith('42["'):
                frames[json.loads(frame[2:])[0]] = frame
    return frames


async def test_connects_one_after_another_encode_each_user_once_not_each_list(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every connect gets everyone: encoded per connect, n connects cost n*(n+1)/2 entries.
    made: list[str] = []
    wire = User.presence_wire

    def counted(self: User, *, connected: bool) -> dict[str, Any]:
        made.append(self.user_id)
        return wire(self, connected=connected)

    monkeypatch.setattr(User, "presence_wire", counted)
    app = App(TEST_SETTINGS)
    ChatServer(app.sio, MemoryStore())
    server = await start_server(app)
    count = 10
    async with trio.open_nursery() as nursery:
        received: list[dict[str, str]] = []

        async def stay(name: str, joined: trio.Event) -> None:
            async with raw_websocket(server.ws_url) as client:
                received.append(await _join(client, name))
                joined.set()
                await trio.sleep_forever()

        for n in range(count):
            joined = trio.Event()
            nursery.start_soon(stay, f"user{n}", joined)
            await joined.wait()
        # Each user's `users` entry once, and its `user:join` (made from the same wire).
        assert len(made) == 2 * count
        nursery.cancel_scope.cancel()
    last = json.loads(received[-1]["users"][2:])[1]
    assert [u["username"] for u in last] == [f"user{n}" for n in range(count)]
    assert all(u["connected"] is True for u in last)
    # The exact text a plain list gives.
    plain = '42["users",' + jsoncodec.dumps(last) + "]"
    assert received[-1]["users"] == plain
