"""SqliteStore's "last seen" times: migrated from a version-1 file, written in the grouped
commits without an fsync of their own, kept across a restart."""

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from minidiscord.chat.models import User
from minidiscord.chat.store.migrations import MIGRATIONS, migrate
from minidiscord.chat.store.sqlite import SqliteStore
from tests.support.waiting import wait_until

from .walfile import wal_commits


@pytest.fixture
async def store(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore.open(str(tmp_path / "chat.db"))
    await nursery.start(opened.run)
    yield opened
    await opened.close()


def test_users_from_before_are_last_seen_when_they_last_wrote(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        migrate(conn, MIGRATIONS[:1])
        conn.execute("INSERT INTO channels (id, name) VALUES (1, 'general')")
        for user_id in ("writer", "lurker"):
            conn.execute("INSERT INTO users (user_id, username) VALUES (?, ?)", (user_id, user_id))
        for mid, timestamp in ((1, 500), (2, 900), (3, 700)):
            conn.execute(
                "INSERT INTO messages (id, channel_id, user_id, username, timestamp, message)"
                " VALUES (?, 1, 'writer', 'writer', ?, 'hi')",
                (mid, timestamp),
            )
        assert migrate(conn) == len(MIGRATIONS) - 1
        seen = dict(conn.execute("SELECT user_id, last_seen FROM users"))
    assert seen == {"writer": 900, "lurker": 0}


async def test_notes_wait_for_a_batch_and_commit_without_their_own_fsync(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = await store.create_user("alice", seen=1)
    bob, _ = await store.create_user("bob", seen=2)
    # The durability each batch ran with (2: FULL, an fsync at commit; 1: NORMAL, none).
    synchronous: list[int] = []
    run_batch = store._run_batch

    def recording(conn: sqlite3.Connection, batch: Any) -> None:
        synchronous.append(conn.execute("PRAGMA synchronous").fetchone()[0])
        run_batch(conn, batch)

    monkeypatch.setattr(store, "_run_batch", recording)
    commits, writes = store.commits, store.committed_writes
    wal_before = wal_commits(Path(store.path))
    store.note_seen(alice.user_id, 10)
    store.note_seen(bob.user_id, 20)
    store.note_seen(alice.user_id, 30)  # only the latest note is written
    await wait_until(lambda: store.commits != commits, timeout=10)
    assert store.commits == commits + 1  # one transaction for all three notes
    assert synchronous == [1]
    assert store.committed_writes == writes  # notes are not counted as writes
    assert wal_commits(Path(store.path)) == wal_before + 1
    # The writer is back to an fsync per commit for whatever comes next.
    assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    snapshot = await store.snapshot([], 0)
    assert snapshot.seen == {alice.user_id: 30, bob.user_id: 20}
    # With a write to wait for, the notes share its fsync.
    store.note_seen(bob.user_id, 50)
    await store.create_user("carol")
    assert synchronous == [1, 2]


async def test_notes_ride_with_the_next_write_and_survive_a_restart(
    store: SqliteStore, tmp_path: Path
) -> None:
    alice, _ = await store.create_user("alice", seen=1)
    store.note_seen(alice.user_id, 42)
    await store.add_message("general", User("x", "x"), "with the note", 1)
    await store.close()
    reopened = SqliteStore.open(store.path)
    async with trio.open_nursery() as nursery:
        await nursery.start(reopened.run)
        assert (await reopened.snapshot([], 0)).seen == {alice.user_id: 42}
        carol, _ = await reopened.create_user("carol")
        assert carol.seq == alice.seq + 1  # creation order goes on after a restart
        await reopened.close()
