"""Connects in a burst share store reads, and each still gets an exact snapshot.

A connect is served by a read that started after it registered, never by one already in
flight: the in-flight read may predate its user, its messages, its friends.
"""

import json
from collections.abc import Sequence
from typing import Any

import pytest
import trio
import trio.testing

from minidiscord.app import App
from minidiscord.chat.models import Role, Session, User
from minidiscord.chat.server import ChatServer
from minidiscord.chat.snapshots import SharedReads, for_user
from minidiscord.chat.store import MemoryStore
from minidiscord.chat.store.base import Snapshot, StoreReadError
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


class CountingStore(MemoryStore):
    """A MemoryStore that counts connect snapshots and can hold the next one half-way."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[frozenset[str]] = []
        self.created = 0
        self.restored = 0
        self.hold = False
        self.held = trio.Event()
        self.release = trio.Event()

    async def create_user(
        self, username: str, avatar: str | None = None, *, seen: int = 0, role: Role = Role.GUEST
    ) -> tuple[User, Session]:
        self.created += 1
        return await super().create_user(username, avatar, seen=seen, role=role)

    async def get_session(self, session_id: str) -> tuple[User, Session] | None:
        self.restored += 1
        return await super().get_session(session_id)

    async def snapshot(self, channels: Sequence[str], limit: int, **users: Any) -> Snapshot:
        result = await super().snapshot(channels, limit, **users)
        if channels:
            self.reads.append(frozenset(users.get("including", ())))
            if self.hold:
                self.hold = False
                self.held.set()
                await self.release.wait()
        return result


async def _join(
    client: RawWebSocket, name: str | None = None, *, session: str | None = None
) -> dict[str, Any]:
    """Connect as a new user ``name`` or with ``session``; the events the connect brought,
    by name."""
    auth = {"username": name} if session is None else {"sessionId": session}
    await client.send("40" + json.dumps(auth))
    events: dict[str, Any] = {}
    with trio.fail_after(10):
        while "users" not in events:
            frame = await client.text()
            if frame.startswith("44"):
                raise AssertionError(f"refused: {frame}")
            if frame.startswith("42"):
                name_, *args = json.loads(frame[2:])
                events[name_] = args[0]
    return events


async def test_a_burst_of_connects_shares_store_reads(start_server: ServerFactory) -> None:
    app = App(TEST_SETTINGS)
    store = CountingStore()
    ChatServer(app.sio, store)
    server = await start_server(app)
    names = [f"user{n}" for n in range(12)]
    joined: dict[str, dict[str, Any]] = {}
    async with trio.open_nursery() as nursery:
        store.hold = True

        async def connect(name: str) -> None:
            async with raw_websocket(server.ws_url) as client:
                joined[name] = await _join(client, name)
                await trio.sleep_forever()

        nursery.start_soon(connect, names[0])
        await store.held.wait()
        for name in names[1:]:
            nursery.start_soon(connect, name)
        # Every later user exists (created before its read is asked for) while the first
        # read is still held: they all register for the next read.
        await wait_until(lambda: store.created == len(names))
        store.release.set()
        await wait_until(lambda: len(joined) == len(names))
        nursery.cancel_scope.cancel()
    # One read for the first connect; one read shared by the eleven others and the first
    # (its read overlapped their users' creation). Each alone: 13 reads.
    assert [len(read) for read in store.reads] == [1, len(names)]
    # Each sees everyone who existed when its read started, itself included.
    for name in names:
        listed = {u["username"] for u in joined[name]["users"]}
        assert name in listed
    assert {u["username"] for u in joined[names[-1]]["users"]} == set(names)


async def test_a_connect_during_a_read_is_served_by_the_next_read(
    start_server: ServerFactory,
) -> None:
    # The read in flight began before the newcomer registered: it was not asked to list
    # the newcomer's user (offline, outside a cut of no offline users), so served by it the
    # newcomer would be refused as a user who left meanwhile.
    app = App(TEST_SETTINGS)
    store = CountingStore()
    ChatServer(app.sio, store, users_listed_offline=0)
    server = await start_server(app)
    old, session = await store.create_user("old")
    async with (
        raw_websocket(server.ws_url) as first,
        raw_websocket(server.ws_url) as newcomer,
        trio.open_nursery() as nursery,
    ):
        store.hold = True
        nursery.start_soon(_join, first, "first")
        await store.held.wait()
        events: dict[str, Any] = {}

        async def newcomer_joins() -> None:
            events.update(await _join(newcomer, session=session.session_id))

        nursery.start_soon(newcomer_joins)
        await wait_until(lambda: store.restored == 1)
        store.release.set()
    assert [u["username"] for u in events["users"]] == ["old", "first"]
    assert store.reads[-1] == {old.user_id}


async def test_when_the_reader_is_cancelled_the_others_get_the_next_read(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[frozenset[str]] = []
    runners: list[str] = []

    async def read(users: frozenset[str]) -> Snapshot:
        calls.append(users)
        runners.append(trio.lowlevel.current_task().name)
        await trio.sleep(1)
        return Snapshot(
            messages={}, users=[User(u, u) for u in sorted(users)], last_id=0, outside_cut=users
        )

    reads: SharedReads[Snapshot] = SharedReads(read)
    got: dict[str, Snapshot] = {}
    scopes = {user_id: trio.CancelScope() for user_id in "abc"}

    async def one(user_id: str) -> None:
        with scopes[user_id]:
            got[user_id] = for_user(await reads.read(user_id), user_id)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, "a", name="a")
        await trio.sleep(0.5)  # a's read is in flight: b and c wait for the next
        nursery.start_soon(one, "b", name="b")
        nursery.start_soon(one, "c", name="c")
        await trio.sleep(0.7)  # a's read ended at 1.0; the shared one is in flight
        assert calls == [{"a"}, {"b", "c"}]
        scopes[runners[1]].cancel()
    survivor = ({"b", "c"} - {runners[1]}).pop()
    assert calls[2] == {survivor}
    assert runners[1] not in got
    # Each listed as its own read would list it: the other connecting user is not.
    assert [u.user_id for u in got[survivor].users] == [survivor]
    assert [u.user_id for u in got["a"].users] == ["a"]


async def test_a_failed_read_fails_every_connect_it_serves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def read(users: frozenset[str]) -> Snapshot:
        await trio.sleep(1)
        raise StoreReadError("redis is away")

    reads: SharedReads[Snapshot] = SharedReads(read)
    failures: list[str] = []

    async def one(user_id: str) -> None:
        with pytest.raises(StoreReadError):
            await reads.read(user_id)
        failures.append(user_id)

    async with trio.open_nursery() as nursery:
        for user_id in "abc":
            nursery.start_soon(one, user_id)
    assert sorted(failures) == ["a", "b", "c"]
