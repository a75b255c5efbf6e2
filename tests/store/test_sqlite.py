"""SqliteStore specifics: persistence, grouped commits, the event loop left free, shutdown."""

import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from minidiscord.chat.models import CHANNELS, Message
from minidiscord.chat.store import sqlite as sqlite_module
from minidiscord.chat.store.factory import open_store
from minidiscord.chat.store.sqlite import (
    STORE_TRANSITIONS,
    SqliteStore,
    StoreState,
    WriteFailed,
)
from tests.support.transitions import assert_moves

from .walfile import wal_commits

GATE_TIMEOUT = 10.0  # seconds; only reached when the behaviour under test is broken


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    return tmp_path / "chat.db"


@pytest.fixture
async def store(nursery: trio.Nursery, db: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore.open(str(db))
    await nursery.start(opened.run)
    yield opened
    await opened.close()


def files_of(db: Path) -> bytes:
    """The database and its WAL (if any), as bytes."""
    wal = Path(f"{db}-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


class Gate:
    """Holds the store's first commit in its worker thread until released."""

    def __init__(self, store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = trio.Event()
        self.release = threading.Event()
        self.held = False
        original = store._commit_in_thread

        def gated(batch: Any) -> None:
            if not self.held:
                self.held = True
                trio.from_thread.run_sync(self.entered.set)
                assert self.release.wait(GATE_TIMEOUT), "the gate was never released"
            original(batch)

        monkeypatch.setattr(store, "_commit_in_thread", gated)


async def test_everything_but_presence_survives_a_reopen(store: SqliteStore, db: Path) -> None:
    alice, alice_session = await store.create_user("alice", "/a.png")
    bob, bob_session = await store.create_user("bob")
    carol, carol_session = await store.create_user("carol")
    sent = [
        await store.add_message(channel, user, f"{user.username} in {channel}", n)
        for n, (channel, user) in enumerate(
            zip(CHANNELS * 2, [alice, bob, carol] * 4, strict=False)
        )
    ]
    await store.delete_user(bob.user_id)
    await store.close()

    reopened = open_store("sqlite", str(db))
    async with trio.open_nursery() as nursery:
        await nursery.start(reopened.run)
        assert await reopened.list_users() == [alice, carol]
        assert await reopened.get_session(alice_session.session_id) == (alice, alice_session)
        assert await reopened.get_session(carol_session.session_id) == (carol, carol_session)
        assert await reopened.get_session(bob_session.session_id) is None
        for channel in CHANNELS:
            stored = await reopened.recent_messages(channel, 50)
            assert stored == [m for m in sent if m.channel == channel]
        # Numbering carries on after the largest stored id.
        later = await reopened.add_message("general", alice, "after restart", 99)
        assert later.id == sent[-1].id + 1
        await reopened.close()


async def test_session_ids_are_not_stored_in_clear(store: SqliteStore, db: Path) -> None:
    _, session = await store.create_user("alice")
    await store.close()
    assert session.session_id.encode() not in files_of(db)


async def test_writes_queued_during_a_commit_are_grouped_into_one(
    store: SqliteStore, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = await store.create_user("alice")
    commits_before, wal_before = store.commits, wal_commits(db)
    gate = Gate(store, monkeypatch)
    results: list[Message] = []

    async def send(n: int) -> None:
        results.append(await store.add_message("general", alice, f"m{n}", n))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, 0)
        await gate.entered.wait()
        # Meanwhile, while the first commit is held: messages and user changes pile up.
        for n in range(1, 200):
            nursery.start_soon(send, n)
        nursery.start_soon(store.create_user, "bob")
        nursery.start_soon(store.delete_user, alice.user_id)
        await trio.testing.wait_all_tasks_blocked()
        assert results == []  # nobody is answered before their commit
        gate.release.set()
    assert store.commits - commits_before == 2
    assert wal_commits(db) - wal_before == 2  # what the file says, not only the counter
    assert store.committed_writes == 1 + 200 + 2
    assert len(results) == 200
    assert [m.username for m in await store.list_users()] == ["bob"]


async def test_sqlite_work_leaves_the_event_loop_free(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While SQLite works (a big grouped commit, then a read), another task keeps running.

    The worker waits until it has seen the ticker tick; if SQLite ran on the event loop the
    ticker could not tick, the wait would time out and the events would say so."""
    events: list[str] = []
    sqlite_busy = threading.Event()
    ticked = threading.Event()

    def waiting_for_ticks(work: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any) -> Any:
            events.append("sqlite starts")
            ticked.clear()
            sqlite_busy.set()
            saw_ticks = ticked.wait(GATE_TIMEOUT)
            result = work(*args)
            sqlite_busy.clear()
            events.append("sqlite ends" if saw_ticks else "sqlite ends, no tick seen")
            return result

        return wrapped

    alice, _ = await store.create_user("alice")
    monkeypatch.setattr(store, "_commit_in_thread", waiting_for_ticks(store._commit_in_thread))
    monkeypatch.setattr(sqlite_module, "_fetchall", waiting_for_ticks(sqlite_module._fetchall))

    async def ticker() -> None:
        while True:
            await trio.lowlevel.checkpoint()
            if sqlite_busy.is_set() and not ticked.is_set():
                events.append("tick")
                ticked.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        async with trio.open_nursery() as senders:
            for n in range(1000):
                senders.start_soon(store.add_message, "general", alice, f"m{n}", n)
        assert len(await store.recent_messages("general", 1000)) == 1000
        nursery.cancel_scope.cancel()
    assert events[:3] == ["sqlite starts", "tick", "sqlite ends"]
    assert events.count("sqlite ends") == events.count("sqlite starts") >= 2
    assert "sqlite ends, no tick seen" not in events


async def test_close_commits_what_is_queued(store: SqliteStore, db: Path) -> None:
    alice, _ = await store.create_user("alice")
    stored: list[Message] = []

    async def send(n: int) -> None:
        stored.append(await store.add_message("general", alice, f"m{n}", n))

    async with trio.open_nursery() as nursery:
        for n in range(50):
            nursery.start_soon(send, n)
        await trio.testing.wait_all_tasks_blocked()
        await store.close()
    assert len(stored) == 50
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 50


async def test_a_stopped_writer_fails_queued_writes_but_keeps_committed_ones(
    nursery: trio.Nursery, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore.open(str(db))
    writer_scope = trio.CancelScope()

    async def writer(task_status: trio.TaskStatus[None]) -> None:
        with writer_scope:
            await store.run(task_status=task_status)

    await nursery.start(writer)
    alice, _ = await store.create_user("alice")
    gate = Gate(store, monkeypatch)
    outcomes: dict[int, str] = {}

    async def send(n: int) -> None:
        try:
            await store.add_message("general", alice, f"m{n}", n)
            outcomes[n] = "stored"
        except RuntimeError:
            outcomes[n] = "refused"

    async with trio.open_nursery() as senders:
        senders.start_soon(send, 0)
        await gate.entered.wait()
        for n in range(1, 10):
            senders.start_soon(send, n)
        await trio.testing.wait_all_tasks_blocked()
        writer_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert outcomes == {}  # the commit in progress is not abandoned
        gate.release.set()
    assert outcomes == {0: "stored"} | {n: "refused" for n in range(1, 10)}
    await store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT message FROM messages").fetchall() == [("m0",)]


async def test_a_failed_commit_fails_its_writers_and_the_store_goes_on(
    store: SqliteStore, db: Path
) -> None:
    alice, _ = await store.create_user("alice")
    first = await store.add_message("general", alice, "before", 1)
    store._writer.execute("PRAGMA query_only = ON")  # every write now fails inside SQLite
    with pytest.raises(WriteFailed, match="readonly"):
        await store.add_message("general", alice, "lost", 2)
    with pytest.raises(WriteFailed):
        await store.create_user("bob")
    store._writer.execute("PRAGMA query_only = OFF")
    after = await store.add_message("general", alice, "after", 3)
    assert after.id > first.id
    assert [m.message for m in await store.recent_messages("general", 10)] == ["before", "after"]
    assert [u.username for u in await store.list_users()] == ["alice"]


async def test_one_bad_write_does_not_fail_the_writes_grouped_with_it(
    store: SqliteStore, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = await store.create_user("alice")
    gate = Gate(store, monkeypatch)
    outcomes: dict[str, str] = {}

    async def send(text: str) -> None:
        try:
            await store.add_message("general", alice, text, 1)
            outcomes[text] = "stored"
        except WriteFailed:
            outcomes[text] = "failed"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, "first")
        await gate.entered.wait()
        # Grouped into one batch while the first commit is held; the middle one cannot
        # be encoded (a lone surrogate got past validation).
        for text in ("good 1", "bad \ud800", "good 2"):
            nursery.start_soon(send, text)
        await trio.testing.wait_all_tasks_blocked()
        gate.release.set()
    assert outcomes == {
        "first": "stored",
        "good 1": "stored",
        "bad \ud800": "failed",
        "good 2": "stored",
    }
    # The tasks may call in either order; what matters is which writes were kept.
    stored = [m.message for m in await store.recent_messages("general", 10)]
    assert stored[0] == "first"
    assert sorted(stored[1:]) == ["good 1", "good 2"]


async def test_writes_need_the_writer_running_and_reads_do_not(db: Path) -> None:
    store = SqliteStore.open(str(db))
    try:
        assert await store.list_users() == []
        with pytest.raises(RuntimeError, match="not running"):
            await store.create_user("alice")
    finally:
        await store.close()


async def test_health_needs_the_writer_running(nursery: trio.Nursery, db: Path) -> None:
    store = SqliteStore.open(str(db))
    assert await store.healthy() is False
    writer_scope = trio.CancelScope()

    async def writer(task_status: trio.TaskStatus[None]) -> None:
        with writer_scope:
            await store.run(task_status=task_status)

    await nursery.start(writer)
    assert await store.healthy() is True
    writer_scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert await store.healthy() is False
    await store.close()


STORE_LEGAL = {
    (StoreState.OPEN, StoreState.RUNNING),
    (StoreState.OPEN, StoreState.CLOSING),
    (StoreState.RUNNING, StoreState.STOPPED),
    (StoreState.RUNNING, StoreState.CLOSING),
    (StoreState.STOPPED, StoreState.CLOSING),
    (StoreState.CLOSING, StoreState.CLOSED),
}


def test_store_transitions_follow_the_table() -> None:
    assert_moves(STORE_TRANSITIONS, StoreState, STORE_LEGAL)


async def test_a_cancelled_writer_leaves_the_store_stopped_readable_and_closable(
    nursery: trio.Nursery, db: Path
) -> None:
    store = SqliteStore.open(str(db))
    assert store.state.name == "OPEN"
    writer_scope = trio.CancelScope()

    async def writer(task_status: trio.TaskStatus[None]) -> None:
        with writer_scope:
            await store.run(task_status=task_status)

    await nursery.start(writer)
    assert store.state.name == "RUNNING"
    await store.create_user("alice")
    writer_scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert store.state.name == "STOPPED"
    with pytest.raises(RuntimeError, match="not running"):
        await store.create_user("bob")
    with pytest.raises(RuntimeError, match="from STOPPED to RUNNING"):
        await store.run()
    assert [user.username for user in await store.list_users()] == ["alice"]
    await store.close()
    assert store.state.name == "CLOSED"
    await store.close()  # a second close returns at once
    with pytest.raises(RuntimeError, match="closed"):
        await store.list_users()
